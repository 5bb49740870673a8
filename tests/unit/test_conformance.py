"""The conformance corpus (tests/conformance/<format>/<case>/): small feeds written from the
standards and the validators' rule descriptions, one case per notice code claimed in
docs/feed_validation.md, plus valid traps. Each case's expect.yaml says which notices it must
raise (code, severity, file, row, field) and what happens to the interval: `error` (a FeedError,
nothing published), `flagged` (figures published with rows left out), `published`."""

from __future__ import annotations

import math
import re
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml

from citypeers import paths
from citypeers.errors import FeedError
from citypeers.feeds import gbfs, gtfs, openaq_air, sdmx_csv
from citypeers.feeds.notices import Notices
from citypeers.intervals import Interval
from citypeers.registry import Feed
from tests.unit.landed import land, landed_file

CORPUS = paths.REPO_ROOT / "tests" / "conformance"
CASES = sorted(f"{path.parent.parent.name}/{path.parent.name}" for path in CORPUS.glob("*/*/expect.yaml"))
YEAR_2024 = Interval.of("2024-01-01", "2025-01-01")
GTFS_LABEL = "feed.zip"
GBFS_LABEL = "system"
YEAR_2014 = Interval.of("2014-01-01", "2015-01-01")
OPENAQ_DAY = Interval.of("2023-10-16", "2023-10-17")
OPENAQ_API = "http://api.test/v3"


def _expect(case: str) -> dict:
    return yaml.safe_load((CORPUS / case / "expect.yaml").read_text(encoding="utf-8"))


def _gtfs_payload(case: str, expect: dict, folder: Path) -> Path:
    """The case as a GTFS zip: the valid base feed, less `remove`, with the case's files laid over
    it (sub-folders kept), optionally nested in a folder or with a byte order mark on every file."""
    target = folder / GTFS_LABEL
    folder.mkdir(parents=True, exist_ok=True)
    case_files = CORPUS / case / "files"
    if expect.get("payload"):
        target.write_bytes((case_files / expect["payload"]).read_bytes())
        return target
    files = {path.name: path.read_bytes() for path in (CORPUS / "gtfs" / "_base").iterdir()
             if path.name not in expect.get("remove", [])}
    if case_files.exists():
        files.update({path.relative_to(case_files).as_posix(): path.read_bytes()
                      for path in case_files.rglob("*") if path.is_file()})
    if expect.get("bom"):
        files = {name: b"\xef\xbb\xbf" + content for name, content in files.items()}
    if expect.get("nest"):
        files = {f"{expect['nest']}/{name}": content for name, content in files.items()}
    target.write_bytes(gtfs.zip_bytes(files))
    return target


def _run_gtfs(case: str, expect: dict, tmp_path: Path) -> tuple[Notices, dict | None, FeedError | None]:
    zipped = _gtfs_payload(case, expect, tmp_path / "feeds")
    feed = Feed(feed_id="conformance", source="gtfs", location=str(zipped), schedule="@yearly", options={},
                city_id="madrid")
    landed = land(feed, YEAR_2024, gtfs.fetch(feed, YEAR_2024), tmp_path / "home")
    found = Notices(feed.feed_id, YEAR_2024.label)
    try:
        frame = gtfs.parse(duckdb.connect(), landed, feed, YEAR_2024, notices=found).df()
    except FeedError as error:
        return found, None, error
    return found, {row["indicator_code"]: row for row in frame.to_dict("records")}, None


def _run_gbfs(case: str, expect: dict, tmp_path: Path) -> tuple[Notices, dict | None, FeedError | None]:
    """The case as one snapshot folder: the valid base snapshot, less `remove`, with the case's
    files laid over it; parsed from its files as the landing zone hands them over."""
    folder = tmp_path / GBFS_LABEL
    folder.mkdir()
    sources = [path for path in (CORPUS / "gbfs" / "_base").iterdir() if path.name not in expect.get("remove", [])]
    if (CORPUS / case / "files").exists():
        sources += list((CORPUS / case / "files").iterdir())
    for path in sources:
        (folder / path.name).write_bytes(path.read_bytes())
    feed = Feed(feed_id="conformance", source="gbfs", location=str(folder), schedule="@yearly", options={},
                city_id="madrid")
    payloads = [landed_file(path, str(path)) for path in sorted(folder.iterdir())]
    found = Notices(feed.feed_id, YEAR_2024.label)
    try:
        frame = gbfs.parse(duckdb.connect(), payloads, feed, YEAR_2024, notices=found).df()
    except FeedError as error:
        return found, None, error
    return found, {row["indicator_code"]: row for row in frame.to_dict("records")}, None


def _run_sdmx_csv(case: str, expect: dict, tmp_path: Path) -> tuple[Notices, list | None, FeedError | None]:
    """The case's data.csv, parsed for 2014 with the case's feed options (DIM_2 code B is madrid)."""
    feed = Feed(feed_id="conformance", source="sdmx_csv", location="unused", schedule="@yearly",
                city_keys={"B": "madrid"}, options=expect["options"])
    payload = landed_file(CORPUS / case / "files" / "data.csv", "data.csv")
    found = Notices(feed.feed_id, YEAR_2014.label)
    try:
        frame = sdmx_csv.parse(duckdb.connect(), [payload], feed, YEAR_2014, notices=found).df()
    except FeedError as error:
        return found, None, error
    return found, frame.to_dict("records"), None


def _run_openaq_air(case: str, expect: dict, tmp_path: Path) -> tuple[Notices, list | None, FeedError | None]:
    """The base sensors page (location 2178: PM2.5 sensor 3920, NO₂ sensor 3916) and the case's
    measurements page of sensor 3920, parsed for 16 October 2023."""
    feed = Feed(feed_id="conformance", source="openaq_air", location=OPENAQ_API, schedule="@daily",
                stations={"2178": "madrid"})
    payloads = [landed_file(CORPUS / "openaq_air" / "_base" / "sensors.json",
                            f"{OPENAQ_API}/locations/2178/sensors?limit=1000&page=1"),
                landed_file(CORPUS / case / "files" / "measurements.json",
                            f"{OPENAQ_API}/sensors/3920/measurements?datetime_from=2023-10-16T00:00:00Z&"
                            "datetime_to=2023-10-17T00:00:00Z&limit=1000&page=1")]
    found = Notices(feed.feed_id, OPENAQ_DAY.label)
    try:
        frame = openaq_air.parse(duckdb.connect(), payloads, feed, OPENAQ_DAY, notices=found).df()
    except FeedError as error:
        return found, None, error
    return found, frame.to_dict("records"), None


def _check_openaq_outcome(expect: dict, found: Notices, rows: list) -> None:
    """Rows published and quarantined (a flagged air row is quarantined with its code as reason)."""
    quarantined = [row for row in rows if not pd.isna(row["parse_error"])]
    assert (len(rows) - len(quarantined), len(quarantined)) == (expect["published"], expect["quarantined"])
    codes = {n.code for n in found.found if n.severity == "flagged"}
    assert all(row["parse_error"].split(":")[0] in codes for row in quarantined)
    assert bool(codes) == (expect["outcome"] == "flagged")
    assert all(expect.get("message", "") in n.message for n in found.found if n.code == "missing_hours")


def _check_sdmx_outcome(expect: dict, found: Notices, rows: list) -> None:
    """Published figures (indicator, year, value, left_out_share), quarantined rows, and the flags:
    an SDMX-CSV row stands for one figure, so a flagged row is quarantined with its code, and a
    flagged annual figure (folded from sub-annual periods) carries left_out_share."""
    def share(row):
        return None if pd.isna(row["left_out_share"]) else round(row["left_out_share"], 4)

    published = [row for row in rows if pd.isna(row["parse_error"])]
    quarantined = [row for row in rows if not pd.isna(row["parse_error"])]
    assert sorted([r["indicator_code"], r["year"], pytest.approx(r["value"]), share(r)] for r in published) == sorted(
        expect["figures"])
    assert len(quarantined) == expect.get("quarantined", 0), [r["parse_error"] for r in quarantined]
    if "quarantined_rows" in expect:
        assert [r["source_row"] for r in quarantined] == expect["quarantined_rows"]
    flagged = [n for n in found.found if n.severity == "flagged"]
    if expect["outcome"] == "flagged":
        assert flagged and (quarantined or any(share(r) for r in published))
    else:
        assert flagged == [] and not quarantined and not any(share(r) for r in published)


def _figures(case: str, rows: dict) -> tuple[tuple, tuple]:
    """(found, expected) figures of a published case."""
    expected = _expect(case)["figures"]
    if case.startswith("gtfs/"):
        return ((rows["pt_departures_per_1000"]["source_value"], rows["pt_stops_per_km2"]["source_value"]),
                (expected["departures"], expected["stops"]))
    return ((rows["shared_bikes_per_1000"]["source_value"],
             round(rows["bike_dock_availability_share"]["source_value"], 3)), (expected["bikes"], expected["share"]))


def _where(label: str, file: str) -> str:
    return f"{label}/{file}" if file and label else file or label


@pytest.mark.parametrize("case", CASES)
def test_a_conformance_case_raises_its_notices_with_their_location_and_outcome(case, tmp_path):
    expect = _expect(case)
    run, label = {"gtfs": (_run_gtfs, GTFS_LABEL), "gbfs": (_run_gbfs, GBFS_LABEL),
                  "sdmx_csv": (_run_sdmx_csv, ""), "openaq_air": (_run_openaq_air, "")}[case.split("/")[0]]
    found, rows, error = run(case, expect, tmp_path)
    expected = {(n["code"], n["severity"], _where(label, n["file"]), n["row"], n["field"]) for n in expect["notices"]}
    got = {(n.code, n.severity, n.file, n.row, n.field) for n in found.found}
    assert expected <= got, f"missing: {expected - got}; found: {sorted(got, key=str)}"
    assert all(n.message for n in found.found)
    if expect.get("exact"):
        assert got == expected
    if expect["outcome"] == "error":
        assert error is not None, f"{case} published: {rows}"
        first = next(n for n in expect["notices"] if n["severity"] == "error")
        assert first["code"] in str(error) and _where(label, first["file"]) in str(error)
        assert expect.get("message", "") in str(error)
        return
    if case.split("/")[0] in ("sdmx_csv", "openaq_air"):
        assert error is None, str(error)
        (_check_sdmx_outcome if case.startswith("sdmx_csv/") else _check_openaq_outcome)(expect, found, rows)
        return
    assert error is None, str(error)
    figures, expected_figures = _figures(case, rows)
    assert figures == expected_figures
    flagged = [n for n in found.found if n.severity in ("error", "flagged")]
    if expect["outcome"] == "flagged":
        assert flagged and all(row["left_out_share"] > 0 for row in rows.values())
        assert all(re.search(r"flagged, rows left out: .*left out|flagged, rows left out: \d+ of", row["note"])
                   for row in rows.values())
    else:
        assert flagged == []
        assert all(row["left_out_share"] is None or math.isnan(row["left_out_share"]) for row in rows.values())


def test_the_corpus_has_a_case_for_every_notice_code_the_policy_claims():
    policy = (paths.REPO_ROOT / "docs" / "feed_validation.md").read_text(encoding="utf-8")
    claimed = set(re.findall(r"^\| (gtfs|gbfs|sdmx_csv|openaq_air) \| `([a-z_0-9]+)` \| "
                             r"(error|flagged|notice|warning) \|", policy, flags=re.MULTILINE))
    covered = {(case.split("/")[0], notice["code"], notice["severity"])
               for case in CASES for notice in _expect(case)["notices"]}
    assert claimed, "docs/feed_validation.md lists no notice code"
    assert claimed - covered == set()
    assert covered - claimed == set()


def test_an_ingest_keeps_its_notices_also_when_an_error_fails_the_interval(tmp_path, monkeypatch):
    from citypeers import ingest
    from tests.citypeers_home import temporary_home

    home, feeds = tmp_path / "home", tmp_path / "feeds"
    home.mkdir()
    registry = home / "feeds.yml"
    registry.write_text(f'feeds:\n  - feed_id: city_gtfs\n    source: gtfs\n    location: "{feeds}/*.zip"\n'
                        '    schedule: "@yearly"\n    options: {city_from: file_stem}\n', encoding="utf-8")
    monkeypatch.setenv("CITYPEERS_FEEDS", str(registry))
    with temporary_home(home):
        _gtfs_payload("gtfs/foreign_key_violation", _expect("gtfs/foreign_key_violation"), feeds).rename(
            feeds / "madrid.zip")
        assert ingest.ingest("city_gtfs", "2024-01-01", "2025-01-01")["published"] == 2
        published = paths.parsed_file("gtfs", "city_gtfs", "2024")
        shares = duckdb.sql(f"select left_out_share from '{published}'").fetchall()
        # 3 stop times left out of 18 rows (3 stops, 3 trips, 9 stop times, 2 calendar, 1 calendar date)
        assert [round(share, 4) for (share,) in shares] == [round(3 / 18, 4)] * 2
        _gtfs_payload("gtfs/invalid_date", _expect("gtfs/invalid_date"), feeds).rename(feeds / "madrid.zip")
        before = published.read_bytes()
        with pytest.raises(FeedError, match=r"madrid\.zip/calendar\.txt row 2 field start_date: invalid_date"):
            ingest.ingest("city_gtfs", "2024-01-01", "2025-01-01")
        assert published.read_bytes() == before
        kept = duckdb.sql(f"select file, \"row\", field, code, severity from "
                          f"'{paths.notices_file('gtfs', 'city_gtfs', '2024')}' where severity = 'error'").fetchall()
        assert kept == [("madrid.zip/calendar.txt", 2, "start_date", "invalid_date", "error")]


def test_notices_beyond_a_hundred_per_file_and_code_are_counted_in_one_more():
    found = Notices("feed", "2024")
    for row in range(2, 252):
        found.add("a.zip/stop_times.txt", "foreign_key_violation", "flagged", "unknown stop", row=row, field="stop_id")
    assert len(found.found) == 101
    assert found.found[-1].row is None and found.found[-1].message.startswith("150 more row(s)")
