"""Checking a GBFS snapshot against the official GBFS JSON Schemas before its figures are computed.

The schemas are MobilityData's (gbfs-json-schema, v1.0 to v3.1-RC3) as the `gbfs-validator`
package bundles them, with its table of the files each version requires of a docked system;
`jsonschema` (draft 7, as the schemas declare) does the checking, after a compiled first pass
(`fastjsonschema`: 17 ms instead of 230 ms for Citi Bike's 845 stations) lets a valid file through
without listing findings. The validator's conditional
rules (19 cross-file patches, e.g. vehicle types and pricing plans) concern files the figures do
not read and are not run.

A schema finding's code is `schema_<keyword>` (`schema_type`: an integer where the version wants a
boolean; `schema_minimum`: a negative count; `schema_required`: a missing field), its row the
station's position in `data.stations` (1 = the first) and its field the station's property (or
the JSON path outside stations). Severity, per docs/feed_validation.md: a finding on a field the
figures read (counts, flags, station_id, capacity) is `flagged` and the station is left out of the
snapshot's figures; `/data/stations` itself broken is an `error`; anything else is a `notice`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import fastjsonschema
from gbfs_validator.feedhelpers import load_schema
from gbfs_validator.versions import KNOWN_VERSIONS, files_for, gbfs_required
from jsonschema import Draft7Validator

from citypeers.feeds.notices import Notices

# Station fields the figures read, per file; a schema finding on one of them leaves the station out.
STATUS_FIELDS = frozenset({
    "station_id", "num_bikes_available", "num_vehicles_available", "num_bikes_disabled", "num_vehicles_disabled",
    "num_docks_available", "num_docks_disabled", "is_installed", "is_renting",
})
INFORMATION_FIELDS = frozenset({"station_id", "capacity"})
STATION_ROLES = ("station_information", "station_status")
# A listed station_status.json plus these give a GBFS snapshot's required files for a docked system.
DOCKED_ROLES = ("system_information", *STATION_ROLES)


@dataclass
class SnapshotCheck:
    """What checking one snapshot decided: its GBFS version, and per station_status position (1 = the
    first station) why that station is left out."""

    version: str | None
    left_out: dict[int, str] = field(default_factory=dict)


def read_json(content: bytes, label: str, notices: Notices) -> Any:
    """A GBFS file as JSON, or None with an `invalid_json` error."""
    try:
        return json.loads(content)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        notices.add(label, "invalid_json", "error", f"not valid JSON ({exc})")
        return None


def detect_version(documents: dict[str, Any], folder: str, notices: Notices) -> str | None:
    """The snapshot's GBFS version: gbfs.json's `version`, else a station file's, else 1.0 (the one
    version without the field). A value that is no GBFS version is `undetectable_version`, an error:
    which schema, which field names and which flag types apply cannot be told."""
    for role in ("gbfs", "station_status", "station_information"):
        document = documents.get(role)
        if isinstance(document, dict) and "version" in document:
            version = str(document["version"])
            if version in KNOWN_VERSIONS:
                return version
            notices.add(f"{folder}/{role}.json", "undetectable_version", "error",
                        f"version {document['version']!r} is not a GBFS version ({', '.join(KNOWN_VERSIONS)}): "
                        "which schema and field names apply cannot be told", field="version")
            return None
    return "1.0"


def check_snapshot(folder: str, names: dict[str, str], documents: dict[str, Any], notices: Notices, *,
                   digests: dict[str, str] | None = None,
                   known_valid: set[tuple[str, str, str]] | None = None) -> SnapshotCheck:
    """Required files, schema findings and station ids of one snapshot (`documents`: role -> parsed
    JSON for the files present; `names`: role -> file name, for notices). With `digests` (role ->
    sha256) and `known_valid` (shared across the snapshots of one parse), a file with the bytes of
    one already found valid is not checked again: a year of hourly snapshots shares its
    station_information, system_information and gbfs.json."""
    version = detect_version(documents, folder, notices)
    check = SnapshotCheck(version=version)
    if version is None:
        return check
    if "gbfs" not in documents and gbfs_required(version):
        notices.add(f"{folder}/gbfs.json", "missing_required_file", "notice",
                    f"GBFS {version} requires gbfs.json (the station files were found by their default names)")
    required = {entry["file"] for entry in files_for(version, docked=True, freefloating=False) if entry["required"]}
    for role in DOCKED_ROLES:
        if role in required and role not in documents and role != "station_status":
            notices.add(f"{folder}/{names.get(role, role + '.json')}", "missing_required_file", "notice",
                        f"GBFS {version} requires {role}.json of a docked system; the figures "
                        + ("need only station_status (capacity is then unknown)" if role == "station_information"
                           else "do not use it"))
    status_rows: dict[str, list[int]] = {}
    for index, station_id in _station_positions(documents.get("station_status")).items():
        status_rows.setdefault(station_id, []).append(index + 1)
    for role, document in documents.items():
        key = (version, role, (digests or {}).get(role, ""))
        if known_valid is not None and key[2] and key in known_valid:
            continue
        if _schema_findings(folder, names.get(role, f"{role}.json"), role, version, document, notices, check,
                            status_rows) and known_valid is not None and key[2]:
            known_valid.add(key)
    _duplicate_station_ids(folder, names.get("station_status", "station_status.json"), status_rows, notices, check)
    return check


@cache
def _validator(version: str, role: str) -> Draft7Validator:
    return Draft7Validator(load_schema(version, role))


@cache
def _first_pass(version: str, role: str) -> Callable[[Any], Any] | None:
    """The schema compiled by fastjsonschema (None if it cannot be). Its only reference is the
    schema's own `$id`, answered here: nothing is ever fetched."""
    schema = load_schema(version, role)

    def this_schema(uri: str) -> dict:
        if uri.split("#")[0] != str(schema.get("$id", "")).split("#")[0]:
            raise LookupError(f"the GBFS schema refers to {uri}, which is not bundled")
        return schema

    try:
        return fastjsonschema.compile(schema, handlers={"http": this_schema, "https": this_schema},
                                      use_formats=False)
    except (LookupError, fastjsonschema.JsonSchemaDefinitionException):
        return None


def _is_valid(version: str, role: str, document: Any) -> bool:
    first_pass = _first_pass(version, role)
    if first_pass is None:
        return False
    try:
        first_pass(document)
    except fastjsonschema.JsonSchemaValueException:
        return False
    return True


def _schema_findings(folder: str, name: str, role: str, version: str, document: Any, notices: Notices,
                     check: SnapshotCheck, status_rows: dict[str, list[int]]) -> bool:
    """One file's schema findings as notices; stations whose used fields break it are left out
    (a station_information finding leaves out the station_status rows of the same station_id).
    Returns whether the file is valid (no finding)."""
    if _is_valid(version, role, document):
        return True
    validator = _validator(version, role)
    information_ids = _station_positions(document) if role == "station_information" else {}
    for error in sorted(validator.iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path]):
        path = list(error.absolute_path)
        keyword = str(error.validator)
        in_station = len(path) >= 3 and path[:2] == ["data", "stations"] and isinstance(path[2], int)
        station_field = str(path[3]) if in_station and len(path) > 3 else None
        if in_station and station_field is None and keyword == "required":
            station_field = _missing_property(error)
        where = f"{folder}/{name}"
        if in_station:
            row = path[2] + 1
            fields = STATUS_FIELDS if role == "station_status" else INFORMATION_FIELDS
            used = role in STATION_ROLES and station_field in fields
            severity = "flagged" if used else "notice"
            message = error.message + ("; the station is left out" if used else "")
            notices.add(where, f"schema_{keyword}", severity, message, row=row, field=station_field)
            if used and role == "station_status":
                check.left_out.setdefault(row, f"{station_field}: schema_{keyword}")
            elif used:
                for position in status_rows.get(information_ids.get(path[2], ""), []):
                    check.left_out.setdefault(position, f"station_information {station_field}: schema_{keyword}")
        else:
            pointer = "/" + "/".join(str(part) for part in path)
            broken = role == "station_status" and path[:2] in (["data"], ["data", "stations"], []) and (
                keyword != "required" or _missing_property(error) in ("data", "stations"))
            notices.add(where, f"schema_{keyword}", "error" if broken else "notice", error.message,
                        field=pointer if path else _missing_property(error) or "/")
    return False


def _missing_property(error) -> str | None:
    """The property a `required` finding names ("'capacity' is a required property")."""
    message = error.message
    return message.split("'")[1] if error.validator == "required" and message.count("'") >= 2 else None


def _station_positions(document: Any) -> dict[int, str]:
    """Index in data.stations -> station_id (as text), for a station file that has them."""
    stations = document.get("data", {}).get("stations") if isinstance(document, dict) else None
    if not isinstance(stations, list):
        return {}
    return {index: str(station.get("station_id")) for index, station in enumerate(stations)
            if isinstance(station, dict) and station.get("station_id") is not None}


def _duplicate_station_ids(folder: str, name: str, status_rows: dict[str, list[int]], notices: Notices,
                           check: SnapshotCheck) -> None:
    """duplicate_station_id: a station_id on several rows of station_status; every row of it is left
    out (whose counts are right cannot be told)."""
    for station_id, rows in status_rows.items():
        if len(rows) > 1:
            for row in rows:
                notices.add(f"{folder}/{name}", "duplicate_station_id", "flagged",
                            f"station_id {station_id} is on rows {', '.join(map(str, rows))}; every one left out",
                            row=row, field="station_id")
                check.left_out.setdefault(row, "duplicate_station_id")
