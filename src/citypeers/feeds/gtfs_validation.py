"""Reading a GTFS zip into DuckDB tables and checking it against the GTFS Schedule reference.

Notice codes are the MobilityData GTFS validator's (RULES.md of MobilityData/gtfs-validator)
where it has one; a few codes for byte-level problems it does not name are citypeers' own
(`unsupported_encoding`, `invalid_utf8`, `nul_character`, `mixed_line_endings`). gtfs-kit was
considered and does not fit: its 13.x releases no longer ship a validator, and it would load every
table into pandas (with geopandas) before any check could say which row is broken.

Every code has one severity (docs/feed_validation.md): `error` fails the interval; `flagged` rows
are left out of the figures (deleted from the loaded tables here) and the figure is flagged with the
share of rows left out; `notice` and `warning` change nothing. A row is the CSV row number as the
MobilityData validator counts it: the header is row 1, the first record row 2.

Checks are DuckDB SQL over the loaded tables (all columns read as text), plus what the bytes say
while a member is copied out of the zip (encoding, NUL bytes, line endings) and what DuckDB's CSV
reader rejects (rows with too few or too many cells).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import duckdb

from citypeers.feeds import new_table_name, sql_literal
from citypeers.feeds.notices import NOTICES_PER_CODE, Notices

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class FileSpec:
    """A GTFS file citypeers reads: the columns loaded, which the reference requires, and which of
    those the figures need (missing one of them is an error, any other a notice)."""

    loaded: tuple[str, ...]
    required: tuple[str, ...]
    needed: tuple[str, ...]
    known: tuple[str, ...]
    feeds_figures: bool


FILES: dict[str, FileSpec] = {
    "agency.txt": FileSpec(
        loaded=("agency_id", "agency_name"), required=("agency_name", "agency_url", "agency_timezone"), needed=(),
        known=("agency_id", "agency_name", "agency_url", "agency_timezone", "agency_lang", "agency_phone",
               "agency_fare_url", "agency_email", "cemv_support"), feeds_figures=False),
    "stops.txt": FileSpec(
        loaded=("stop_id", "location_type"), required=("stop_id",), needed=("stop_id",),
        known=("stop_id", "stop_code", "stop_name", "tts_stop_name", "stop_desc", "stop_lat", "stop_lon", "zone_id",
               "stop_url", "location_type", "parent_station", "stop_timezone", "wheelchair_boarding", "level_id",
               "platform_code", "stop_access"), feeds_figures=True),
    "routes.txt": FileSpec(
        loaded=("route_id", "agency_id"), required=("route_id", "route_type"), needed=(),
        known=("route_id", "agency_id", "route_short_name", "route_long_name", "route_desc", "route_type",
               "route_url", "route_color", "route_text_color", "route_sort_order", "continuous_pickup",
               "continuous_drop_off", "network_id", "cemv_support"), feeds_figures=False),
    "trips.txt": FileSpec(
        loaded=("route_id", "service_id", "trip_id"), required=("route_id", "service_id", "trip_id"),
        needed=("service_id", "trip_id"),
        known=("route_id", "service_id", "trip_id", "trip_headsign", "trip_short_name", "direction_id", "block_id",
               "shape_id", "wheelchair_accessible", "bikes_allowed", "cars_allowed"), feeds_figures=True),
    "stop_times.txt": FileSpec(
        loaded=("trip_id", "stop_id", "stop_sequence", "arrival_time", "departure_time", "shape_dist_traveled"),
        required=("trip_id", "stop_id", "stop_sequence"), needed=("trip_id", "stop_id"),
        known=("trip_id", "arrival_time", "departure_time", "stop_id", "location_group_id", "location_id",
               "stop_sequence", "stop_headsign", "start_pickup_drop_off_window", "end_pickup_drop_off_window",
               "pickup_type", "drop_off_type", "continuous_pickup", "continuous_drop_off", "shape_dist_traveled",
               "timepoint", "pickup_booking_rule_id", "drop_off_booking_rule_id"), feeds_figures=True),
    "calendar.txt": FileSpec(
        loaded=("service_id", *WEEKDAYS, "start_date", "end_date"),
        required=("service_id", *WEEKDAYS, "start_date", "end_date"),
        needed=("service_id", *WEEKDAYS, "start_date", "end_date"),
        known=("service_id", *WEEKDAYS, "start_date", "end_date"), feeds_figures=True),
    "calendar_dates.txt": FileSpec(
        loaded=("service_id", "date", "exception_type"), required=("service_id", "date", "exception_type"),
        needed=("service_id", "date", "exception_type"), known=("service_id", "date", "exception_type"),
        feeds_figures=True),
    "frequencies.txt": FileSpec(
        loaded=("trip_id", "start_time", "end_time", "headway_secs"),
        required=("trip_id", "start_time", "end_time", "headway_secs"),
        needed=("trip_id", "start_time", "end_time", "headway_secs"),
        known=("trip_id", "start_time", "end_time", "headway_secs", "exact_times"), feeds_figures=True),
}
REQUIRED_FILES = ("agency.txt", "stops.txt", "routes.txt", "trips.txt", "stop_times.txt")
FIGURE_REQUIRED_FILES = ("stops.txt", "trips.txt", "stop_times.txt")
SERVICE_FILES = ("calendar.txt", "calendar_dates.txt")
# Every file the GTFS Schedule reference defines; anything else in the zip is an unknown_file.
STANDARD_FILES = frozenset({
    *FILES, "fare_attributes.txt", "fare_rules.txt", "timeframes.txt", "rider_categories.txt", "fare_media.txt",
    "fare_products.txt", "fare_leg_rules.txt", "fare_leg_join_rules.txt", "fare_transfer_rules.txt", "areas.txt",
    "stop_areas.txt", "networks.txt", "route_networks.txt", "shapes.txt", "transfers.txt", "pathways.txt",
    "levels.txt", "location_groups.txt", "location_group_stops.txt", "locations.geojson", "booking_rules.txt",
    "translations.txt", "feed_info.txt", "attributions.txt",
})
TIME = "[0-9]{1,3}:[0-5][0-9]:[0-5][0-9]"
_LONE_LF = re.compile(rb"(?<!\r)\n")


@dataclass
class LoadedPayload:
    """One payload as loaded: its label in notices (the zip's name) and the zip member of each GTFS file."""

    number: int
    label: str
    members: dict[str, str]


class GtfsTables:
    """The GTFS tables of every payload of one parse, as DuckDB temp tables with columns `payload`
    (1, 2, ... in payload order) and `csv_row` (the row number in its file, header = row 1)."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con
        self.prefix = new_table_name("gtfs")
        self.tables: dict[str, str] = {}
        for name, spec in FILES.items():
            table = f"{self.prefix}_{name.removesuffix('.txt')}"
            columns = ", ".join(f"{column} VARCHAR" for column in spec.loaded)
            con.execute(f"CREATE TEMP TABLE {table} (payload INTEGER, csv_row BIGINT, {columns})")
            self.tables[name] = table
        # per payload and file: the columns its header has, and its row count (loaded + rejected)
        self.present = f"{self.prefix}_present"
        self.counts = f"{self.prefix}_counts"
        self.issues = f"{self.prefix}_issues"
        con.execute(f"CREATE TEMP TABLE {self.present} (payload INTEGER, file VARCHAR, column_name VARCHAR)")
        con.execute(f"CREATE TEMP TABLE {self.counts} (payload INTEGER, file VARCHAR, row_count BIGINT)")
        con.execute(
            f"CREATE TEMP TABLE {self.issues} (payload INTEGER, file VARCHAR, csv_row BIGINT, field VARCHAR, "
            "code VARCHAR, severity VARCHAR, message VARCHAR, left_out BOOLEAN)"
        )
        self.payloads: dict[int, LoadedPayload] = {}

    def drop(self) -> None:
        for table in (*self.tables.values(), self.present, self.counts, self.issues):
            self.con.execute(f"DROP TABLE IF EXISTS {table}")

    # --- loading ----------------------------------------------------------------------------

    def load(self, number: int, label: str, archive: zipfile.ZipFile, scratch: Path, notices: Notices) -> None:
        """Load one payload's GTFS files, recording what is wrong (the caller fails on errors)."""
        members = select_members(archive, label, notices)
        self.payloads[number] = LoadedPayload(number, label, {name: info.filename for name, info in members.items()})
        for name in REQUIRED_FILES:
            if name not in members:
                figures = name in FIGURE_REQUIRED_FILES
                notices.add(f"{label}/{name}", "missing_required_file", "error" if figures else "notice",
                            f"the GTFS feed lacks the required file(s) {name}"
                            + ("" if figures else " (the figures do not use it)"))
        if not any(name in members for name in SERVICE_FILES):
            notices.add(f"{label}/calendar.txt", "missing_calendar_and_calendar_date_files", "error",
                        "neither calendar.txt nor calendar_dates.txt: no service date is defined")
        rows = {}
        for name, info in members.items():
            where = f"{label}/{info.filename}"
            target = scratch / f"{number}_{name}"
            extracted = extract(archive, info, target)
            if self._check_bytes(name, where, extracted, notices):
                rows[name] = self._load_file(number, name, where, target, extracted.encoding, notices)
        for name in FIGURE_REQUIRED_FILES:
            if rows.get(name) == 0:
                read = self.con.execute(f"SELECT sum(row_count) FROM {self.counts} WHERE payload = ? AND file = ?",
                                        [number, name]).fetchone()[0]
                notices.add(f"{label}/{members[name].filename}", "empty_file", "error",
                            f"{name} has a header but no rows: nothing to count" if not read else
                            f"none of the {read} rows of {name} could be read (see its other notices)")
        service = [name for name in SERVICE_FILES if name in rows]
        if service and all(rows[name] in (0, None) for name in service):
            notices.add(f"{label}/{members[service[0]].filename}", "empty_file", "error",
                        f"{' and '.join(service)} define no service date (no rows)")

    def _check_bytes(self, name: str, where: str, extracted: Extracted, notices: Notices) -> bool:
        """Byte-level findings of one extracted member; False when the file cannot be read."""
        figures = FILES[name].feeds_figures
        if extracted.unsupported:
            notices.add(where, "unsupported_encoding", "error",
                        f"the file is {extracted.unsupported}; GTFS files must be UTF-8: save it as UTF-8")
            return False
        if extracted.nul_line is not None:
            notices.add(where, "nul_character", "error" if figures else "notice",
                        "a NUL byte (0x00) in the file: it is corrupted or not a text file", row=extracted.nul_line)
            if figures:
                return False
        if extracted.encoding != "utf-8":
            notices.add(where, "invalid_utf8", "notice",
                        "the file is not valid UTF-8 (first invalid byte on this row); read as Latin-1",
                        row=extracted.invalid_utf8_line)
        if extracted.mixed_line_ending_line is not None:
            notices.add(where, "mixed_line_endings", "warning",
                        "line endings change between CRLF and LF (first change on this row); read as LF",
                        row=extracted.mixed_line_ending_line)
        return True

    def _load_file(self, number: int, name: str, where: str, path: Path, encoding: str,
                   notices: Notices) -> int | None:
        """Load one extracted file (header checks, then rows; short or long rows are rejected and
        recorded); its row count, or None when it has no header or lacks a column the figures need."""
        spec = FILES[name]
        header = header_names(path, encoding)
        if not header:
            severity = "error" if name in FIGURE_REQUIRED_FILES else "notice"
            notices.add(where, "empty_file", severity, "the file is empty (not even a header row)")
            return None
        positions: dict[str, int] = {}
        for index, column in enumerate(header):
            if column in positions:
                notices.add(where, "duplicated_column", "error" if column in spec.needed else "notice",
                            f"column {column} appears twice in the header (read: the first)", row=1, field=column)
            elif not column:
                notices.add(where, "empty_column_name", "notice", f"column {index + 1} has no name", row=1)
            else:
                positions[column] = index
                if column not in spec.known:
                    notices.add(where, "unknown_column", "warning", f"{column} is not a GTFS column of {name}",
                                row=1, field=column)
        lacking = [column for column in spec.required if column not in positions]
        for column in lacking:
            severity = "error" if column in spec.needed else "notice"
            notices.add(where, "missing_required_column", severity,
                        f"{name} lacks the required column(s) {column} (has: {', '.join(header)})", row=1,
                        field=column)
        if any(column in spec.needed for column in lacking):
            return None
        self.con.executemany(f"INSERT INTO {self.present} VALUES (?, ?, ?)",
                             [[number, name, column] for column in positions if column in spec.loaded])
        rejects, scans = new_table_name("gtfs_rejects"), new_table_name("gtfs_scans")
        columns = ", ".join(f"'c{index}': 'VARCHAR'" for index in range(len(header)))
        reader = (
            f"read_csv({sql_literal(str(path))}, header = true, delim = ',', quote = '\"', escape = '\"', "
            f"null_padding = false, encoding = {sql_literal(encoding)}, auto_detect = false, columns = {{{columns}}}, "
            f"store_rejects = true, rejects_table = '{rejects}', rejects_scan = '{scans}')"
        )
        selected = ", ".join(
            f"nullif(trim(c{positions[column]}), '')" if column in positions else "NULL" for column in spec.loaded
        )
        staged = new_table_name("gtfs_staged")
        self.con.execute(f"CREATE TEMP TABLE {staged} AS SELECT row_number() OVER () AS record, {selected} "
                         f"FROM {reader}")
        rejected = self.con.sql(
            f"SELECT line, error_type, any_value(csv_line) FROM {rejects} GROUP BY ALL ORDER BY line"
        ).fetchall() if _table_exists(self.con, rejects) else []
        # The k-th loaded record sits on the k-th row number (from 2) that no rejected row takes.
        lines = [line for line, _, _ in rejected]
        before = ", ".join(f"({line - 2 - index})" for index, line in enumerate(lines))
        skipped = (f" + (SELECT count(*) FROM (VALUES {before}) AS r(loaded_before) WHERE r.loaded_before < record)"
                   if lines else "")
        self.con.execute(f"INSERT INTO {self.tables[name]} SELECT {number}, record + 1{skipped}, * EXCLUDE (record) "
                         f"FROM {staged}")
        loaded = self.con.sql(f"SELECT count(*) FROM {staged}").fetchone()[0]
        self.con.execute(f"INSERT INTO {self.counts} VALUES (?, ?, ?)", [number, name, loaded + len(rejected)])
        for line, error_type, csv_line in rejected:
            cells = len(next(csv.reader([csv_line or ""]), []))
            ragged = error_type in ("MISSING COLUMNS", "TOO MANY COLUMNS")
            code = "invalid_row_length" if ragged else "csv_parsing_failed"
            message = (f"{cells} cells where the header has {len(header)}" if code == "invalid_row_length"
                       else f"the CSV reader refused the row ({error_type.lower()})")
            self._issue(number, name, line, None, code, message + "; row left out")
        for table in (staged, rejects, scans):
            self.con.execute(f"DROP TABLE IF EXISTS {table}")
        return loaded

    def _issue(self, number: int, name: str, row: int | None, field: str | None, code: str, message: str) -> None:
        """A row the reader could not load: left out, flagged when the file feeds the figures."""
        severity = "flagged" if FILES[name].feeds_figures else "notice"
        self.con.execute(f"INSERT INTO {self.issues} VALUES (?, ?, ?, ?, ?, ?, ?, true)",
                         [number, name, row, field, code, severity, message])

    # --- row checks -------------------------------------------------------------------------

    def check_rows(self, notices: Notices) -> None:
        """Run every row check into the issues table, then report them (capped per file and code)."""
        ordered = f"{self.prefix}_ordered_stop_times"
        self.con.execute(f"CREATE TEMP TABLE {ordered} AS {ordered_stop_times_sql(self.tables['stop_times.txt'])}")
        for check in row_checks(self.tables, self.present, ordered):
            self.con.execute(f"INSERT INTO {self.issues} {check}")
        self.con.execute(f"DROP TABLE {ordered}")
        labels = ", ".join(f"({number}, {sql_literal(p.label)})" for number, p in self.payloads.items())
        listed = self.con.sql(f"""
            SELECT labels.label || '/' || i.file AS file, i.csv_row, i.field, i.code, i.severity, i.message,
                row_number() OVER (PARTITION BY i.payload, i.file, i.code, i.severity ORDER BY i.csv_row) AS nth,
                count(*) OVER (PARTITION BY i.payload, i.file, i.code, i.severity) AS occurrences
            FROM {self.issues} AS i JOIN (VALUES {labels}) AS labels(payload, label) USING (payload)
        """)
        notices.add_rows(listed.filter(f"nth <= {NOTICES_PER_CODE}").order("file, code, csv_row NULLS LAST")
                         .select("file, csv_row, field, code, severity, message").fetchall())
        for file, code, severity, occurrences in listed.filter(f"nth = 1 AND occurrences > {NOTICES_PER_CODE}") \
                .select("file, code, severity, occurrences").fetchall():
            notices.add_more(file, code, severity, occurrences - NOTICES_PER_CODE)

    def leave_out_flagged_rows(self) -> None:
        """Delete the rows of every `flagged` issue, so the figures are computed without them."""
        for name, table in self.tables.items():
            self.con.execute(f"""
                DELETE FROM {table} AS t USING (
                    SELECT DISTINCT payload, csv_row FROM {self.issues} WHERE left_out AND file = '{name}'
                ) AS gone
                WHERE t.payload = gone.payload AND t.csv_row = gone.csv_row
            """)

    def left_out_sql(self) -> str:
        """Per payload: the share of the rows of the files the figures are computed from (stops,
        trips, stop_times, calendar, calendar_dates, frequencies) that flagged notices left out,
        and a note naming each file's count and codes."""
        figure_files = ", ".join(sql_literal(name) for name, spec in FILES.items() if spec.feeds_figures)
        return f"""
            SELECT payload,
                sum(left_out_rows) / any_value(total.row_count) AS left_out_share,
                string_agg(file || ': ' || left_out_rows || ' of ' || counts.row_count || ' rows left out ('
                           || codes || ')', '; ' ORDER BY file) AS left_out_note
            FROM (
                SELECT payload, file, count(DISTINCT csv_row) AS left_out_rows,
                    string_agg(DISTINCT code, ', ' ORDER BY code) AS codes
                FROM {self.issues} WHERE left_out AND severity = 'flagged'
                GROUP BY ALL
            ) AS gone
            JOIN {self.counts} AS counts USING (payload, file)
            JOIN (SELECT payload, sum(row_count) AS row_count FROM {self.counts}
                  WHERE file IN ({figure_files}) GROUP BY ALL) AS total USING (payload)
            GROUP BY ALL
        """


def _table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [table]).fetchone()[0] > 0


# --- the zip and its bytes ------------------------------------------------------------------------

def select_members(archive: zipfile.ZipFile, label: str, notices: Notices) -> dict[str, zipfile.ZipInfo]:
    """GTFS file name -> zip member. Files in a sub-folder count (the shallowest wins, noticed);
    macOS `__MACOSX/` copies and every non-GTFS file are unknown files (warnings), never read."""
    found: dict[str, zipfile.ZipInfo] = {}
    for info in sorted(archive.infolist(), key=lambda i: (i.filename.count("/"), i.filename)):
        if info.is_dir():
            continue
        path = PurePosixPath(info.filename)
        name = path.name.lower()
        if info.filename.startswith("__MACOSX/") or name.startswith("._"):
            notices.add(f"{label}/{info.filename}", "unknown_file", "warning",
                        "a macOS resource-fork copy (__MACOSX), ignored")
        elif name in FILES and name not in found:
            found[name] = info
        elif name not in STANDARD_FILES or name in found:
            notices.add(f"{label}/{info.filename}", "unknown_file", "warning",
                        "not a GTFS file" if name not in STANDARD_FILES else f"a second {name}, ignored")
    nested = sorted({str(PurePosixPath(info.filename).parent) for info in found.values() if "/" in info.filename})
    if nested:
        notices.add(f"{label}/{nested[0]}", "invalid_input_files_in_subfolder", "notice",
                    f"the GTFS files are in the sub-folder {', '.join(nested)} instead of the zip's root; read there")
    return found


@dataclass(frozen=True)
class Extracted:
    """What copying a member out of the zip saw in its bytes (rows count from 1 = the header)."""

    size: int
    encoding: str
    unsupported: str | None = None
    nul_line: int | None = None
    invalid_utf8_line: int | None = None
    mixed_line_ending_line: int | None = None


def extract(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> Extracted:
    """Copy a member to disk with CRLF turned into LF (DuckDB cannot read a file that mixes both),
    noting the encoding (UTF-8, else Latin-1), UTF-16/32, the first NUL byte and the first change
    of line ending, by row."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8, invalid_line, nul_line, mixed_line = True, None, None, None
    lines, size, first_ending, carry = 0, 0, None, b""

    def row_at(chunk: bytes, position: int) -> int:
        return lines + chunk[:position].count(b"\n") + 1

    with archive.open(info) as source, target.open("wb") as sink:
        while chunk := source.read(1 << 20):
            if size == 0 and (unsupported := _wide_encoding(chunk)):
                return Extracted(size=len(chunk), encoding="utf-8", unsupported=unsupported)
            size += len(chunk)
            chunk, carry = carry + chunk, b""
            if chunk.endswith(b"\r"):  # a CRLF may straddle two chunks
                chunk, carry = chunk[:-1], b"\r"
            if nul_line is None and b"\x00" in chunk:
                nul_line = row_at(chunk, chunk.index(b"\x00"))
            if utf8:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    utf8, invalid_line = False, row_at(chunk, max(exc.start, 0))
            if first_ending is None and b"\n" in chunk:
                first_ending = "crlf" if chunk[: chunk.index(b"\n")].endswith(b"\r") else "lf"
            if mixed_line is None and first_ending == "crlf" and (lone := _LONE_LF.search(chunk)):
                mixed_line = row_at(chunk, lone.start())
            elif mixed_line is None and first_ending == "lf" and b"\r\n" in chunk:
                mixed_line = row_at(chunk, chunk.index(b"\r\n"))
            lines += chunk.count(b"\n")
            sink.write(chunk.replace(b"\r\n", b"\n"))
        sink.write(carry)
    if utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8, invalid_line = False, lines + 1
    return Extracted(size=size, encoding="utf-8" if utf8 else "latin-1", nul_line=nul_line,
                     invalid_utf8_line=invalid_line, mixed_line_ending_line=mixed_line)


def _wide_encoding(head: bytes) -> str | None:
    """'UTF-16' or 'UTF-32' when the first bytes say so (a byte order mark, or NUL bytes between
    ASCII letters), else None."""
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "UTF-32"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "UTF-16 (byte order mark " + head[:2].hex(" ").upper() + ")"
    sample = head[:64]
    if len(sample) >= 8 and sample.count(b"\x00") * 3 >= len(sample):
        return "UTF-16 without a byte order mark"
    return None


def header_names(path: Path, encoding: str) -> list[str]:
    """The header row's column names, trimmed and lower-cased, byte order mark removed."""
    with path.open(encoding=encoding, newline="") as handle:
        first = handle.readline()
    if not first.strip():
        return []
    return [name.replace("\ufeff", "").strip().lower() for name in next(csv.reader(io.StringIO(first)))]


# --- row checks as SQL --------------------------------------------------------------------------

def _issue_sql(file: str, table: str, field: str | None, code: str, severity: str, message_sql: str,
               condition: str, *, left_out: bool = False, alias: str = "t") -> str:
    return (
        f"SELECT {alias}.payload, '{file}', {alias}.csv_row, {sql_literal(field)}, '{code}', '{severity}', "
        f"{message_sql}, {str(left_out).lower()} FROM {table} AS {alias} WHERE {condition}"
    )


def _has(present: str, file: str, column: str, alias: str = "t") -> str:
    """SQL: the payload's file has the column (checks of optional columns run only where it exists)."""
    return (f"EXISTS (SELECT 1 FROM {present} AS p WHERE p.payload = {alias}.payload AND p.file = '{file}' "
            f"AND p.column_name = '{column}')")


def _quoted(column: str, alias: str = "t") -> str:
    return f"'''' || {alias}.{column} || ''''"


def row_checks(t: dict[str, str], present: str, ordered: str) -> list[str]:
    """Every row check: SELECTs of (payload, file, csv_row, field, code, severity, message, left_out)."""
    checks = []
    # missing_required_field: an empty cell in a required column
    for file, column, severity in (
        ("stops.txt", "stop_id", "notice"), ("routes.txt", "route_id", "notice"),
        ("trips.txt", "trip_id", "flagged"), ("trips.txt", "service_id", "flagged"),
        ("stop_times.txt", "trip_id", "flagged"), ("stop_times.txt", "stop_id", "flagged"),
        ("calendar.txt", "service_id", "error"), ("calendar_dates.txt", "service_id", "error"),
        ("frequencies.txt", "trip_id", "error"),
    ):
        left = severity == "flagged" or (severity == "notice" and FILES[file].feeds_figures)
        checks.append(_issue_sql(file, t[file], column, "missing_required_field", severity,
                                 sql_literal(f"{column} is empty" + ("; row left out" if left else "")),
                                 f"t.{column} IS NULL AND {_has(present, file, column)}", left_out=left))
    checks.append(_issue_sql(
        "routes.txt", t["routes.txt"], "agency_id", "missing_required_field", "notice",
        "'agency_id is empty while agency.txt lists several agencies'",
        f"t.agency_id IS NULL AND (SELECT count(*) FROM {t['agency.txt']} AS a WHERE a.payload = t.payload) > 1"))
    # invalid_date, start_and_end_range_out_of_order: the service calendar places every departure
    for file, column in (("calendar.txt", "start_date"), ("calendar.txt", "end_date"), ("calendar_dates.txt", "date")):
        checks.append(_issue_sql(
            file, t[file], column, "invalid_date", "error",
            f"{_quoted(column)} || ' is not a date in YYYYMMDD form'",
            f"t.{column} IS NULL OR NOT regexp_full_match(t.{column}, '[0-9]{{8}}') "
            f"OR try_strptime(t.{column}, '%Y%m%d') IS NULL"))
    checks.append(_issue_sql(
        "calendar.txt", t["calendar.txt"], "end_date", "start_and_end_range_out_of_order", "error",
        "'end_date ' || t.end_date || ' is before start_date ' || t.start_date",
        "try_strptime(t.end_date, '%Y%m%d') < try_strptime(t.start_date, '%Y%m%d')"))
    for day in WEEKDAYS:
        checks.append(_issue_sql("calendar.txt", t["calendar.txt"], day, "unexpected_enum_value", "error",
                                 f"{_quoted(day)} || ' is neither 0 nor 1'", f"t.{day} IS DISTINCT FROM '0' "
                                 f"AND t.{day} IS DISTINCT FROM '1'"))
    checks.append(_issue_sql("calendar_dates.txt", t["calendar_dates.txt"], "exception_type", "unexpected_enum_value",
                             "error",
                             "coalesce(''''|| t.exception_type || '''', 'an empty value') || ' is neither 1 nor 2'",
                             "t.exception_type IS DISTINCT FROM '1' AND t.exception_type IS DISTINCT FROM '2'"))
    # times, integers and ranges
    for column in ("start_time", "end_time"):
        checks.append(_issue_sql("frequencies.txt", t["frequencies.txt"], column, "invalid_time", "error",
                                 f"coalesce({_quoted(column)}, 'an empty value') || ' is not a time in H:MM:SS form'",
                                 f"t.{column} IS NULL OR NOT regexp_full_match(t.{column}, '{TIME}')"))
    for column in ("arrival_time", "departure_time"):
        checks.append(_issue_sql("stop_times.txt", t["stop_times.txt"], column, "invalid_time", "notice",
                                 f"{_quoted(column)} || ' is not a time in H:MM:SS form'",
                                 f"t.{column} IS NOT NULL AND NOT regexp_full_match(t.{column}, '{TIME}')"))
    checks.append(_issue_sql("frequencies.txt", t["frequencies.txt"], "headway_secs", "invalid_integer", "error",
                             f"coalesce({_quoted('headway_secs')}, 'an empty value') || ' is not an integer'",
                             "try_cast(t.headway_secs AS BIGINT) IS NULL"))
    checks.append(_issue_sql("frequencies.txt", t["frequencies.txt"], "headway_secs", "number_out_of_range", "error",
                             "'headway_secs ' || t.headway_secs || ' is not positive'",
                             "try_cast(t.headway_secs AS BIGINT) <= 0"))
    seconds = "(try_cast(split_part({c}, ':', 1) AS BIGINT) * 3600 + try_cast(split_part({c}, ':', 2) AS BIGINT) * 60" \
              " + try_cast(split_part({c}, ':', 3) AS BIGINT))"
    start, end = seconds.format(c="t.start_time"), seconds.format(c="t.end_time")
    checks.append(_issue_sql("frequencies.txt", t["frequencies.txt"], "end_time", "start_and_end_range_out_of_order",
                             "error", "'end_time ' || t.end_time || ' is before start_time ' || t.start_time",
                             f"{end} < {start}"))
    checks.append(_issue_sql("frequencies.txt", t["frequencies.txt"], "end_time", "start_and_end_range_equal", "error",
                             "'end_time equals start_time ' || t.start_time || ': no departure window'",
                             f"{end} = {start}"))
    other_start, other_end = seconds.format(c="o.start_time"), seconds.format(c="o.end_time")
    checks.append(f"""
        SELECT t.payload, 'frequencies.txt', t.csv_row, 'start_time', 'overlapping_frequency', 'error',
            'trip ' || t.trip_id || ' runs ' || t.start_time || '-' || t.end_time || ', overlapping row ' || o.csv_row
            || ' (' || o.start_time || '-' || o.end_time || '): its departures would count twice', false
        FROM {t['frequencies.txt']} AS t JOIN {t['frequencies.txt']} AS o
            ON t.payload = o.payload AND t.trip_id = o.trip_id AND o.csv_row < t.csv_row
        WHERE {start} < {other_end} AND {other_start} < {end}
    """)
    checks.append(_issue_sql("stop_times.txt", t["stop_times.txt"], "stop_sequence", "invalid_integer", "notice",
                             f"{_quoted('stop_sequence')} || ' is not an integer'",
                             "t.stop_sequence IS NOT NULL AND try_cast(t.stop_sequence AS BIGINT) IS NULL"))
    checks.append(_issue_sql("stop_times.txt", t["stop_times.txt"], "stop_sequence", "number_out_of_range", "notice",
                             "'stop_sequence ' || t.stop_sequence || ' is negative'",
                             "try_cast(t.stop_sequence AS BIGINT) < 0"))
    checks.extend(_duplicate_checks(t))
    checks.extend(_foreign_key_checks(t, present))
    checks.extend(_trip_checks(t, ordered))
    for file, column in (("stops.txt", "stop_id"), ("trips.txt", "trip_id"), ("trips.txt", "service_id"),
                         ("stop_times.txt", "trip_id"), ("stop_times.txt", "stop_id"), ("calendar.txt", "service_id"),
                         ("calendar_dates.txt", "service_id"), ("frequencies.txt", "trip_id")):
        checks.append(_issue_sql(file, t[file], column, "new_line_in_value", "notice",
                                 "'a line break inside the value'", f"regexp_matches(t.{column}, '[\\r\\n]')"))
    return checks


def _duplicate_checks(t: dict[str, str]) -> list[str]:
    """duplicate_key: every row after the first of its key; where the severity is `flagged`, every
    row of the key (which one holds cannot be told, so none is used)."""
    checks = []
    for file, key, severity in (
        ("stops.txt", ("stop_id",), "error"), ("trips.txt", ("trip_id",), "error"),
        ("calendar.txt", ("service_id",), "error"), ("calendar_dates.txt", ("service_id", "date"), "flagged"),
        ("stop_times.txt", ("trip_id", "stop_sequence"), "flagged"), ("routes.txt", ("route_id",), "notice"),
        ("agency.txt", ("agency_id",), "notice"),
    ):
        partition = ", ".join(("payload", *key))
        shown = " || ', ' || ".join(f"'{column} ' || {column}" for column in key)
        left = severity == "flagged"
        message = (f"{shown} || ' is on ' || occurrences || ' rows (from row ' || first_row || '); every one left out'"
                   if left else f"{shown} || ' again (first on row ' || first_row || ')'")
        checks.append(f"""
            SELECT payload, '{file}', csv_row, '{key[-1]}', 'duplicate_key', '{severity}', {message},
                {str(left).lower()}
            FROM (
                SELECT payload, csv_row, {', '.join(key)},
                    min(csv_row) OVER (PARTITION BY {partition}) AS first_row,
                    count(*) OVER (PARTITION BY {partition}) AS occurrences
                FROM {t[file]} WHERE {' AND '.join(f'{column} IS NOT NULL' for column in key)}
            ) WHERE occurrences > 1 AND {'true' if left else 'csv_row > first_row'}
        """)
    return checks


def _foreign_key_checks(t: dict[str, str], present: str) -> list[str]:
    """foreign_key_violation: a reference to an id its file does not define."""
    services = (f"(SELECT payload, service_id FROM {t['calendar.txt']} UNION "
                f"SELECT payload, service_id FROM {t['calendar_dates.txt']})")
    checks = []
    for file, column, parent_file, parent_sql, severity, left in (
        ("stop_times.txt", "stop_id", "stops.txt", f"(SELECT payload, stop_id FROM {t['stops.txt']})", "flagged", True),
        ("stop_times.txt", "trip_id", "trips.txt", f"(SELECT payload, trip_id FROM {t['trips.txt']})", "flagged", True),
        ("trips.txt", "service_id", "calendar.txt or calendar_dates.txt", services, "flagged", True),
        ("trips.txt", "route_id", "routes.txt", f"(SELECT payload, route_id FROM {t['routes.txt']})", "notice", False),
        ("routes.txt", "agency_id", "agency.txt", f"(SELECT payload, agency_id FROM {t['agency.txt']})", "notice",
         False),
        ("frequencies.txt", "trip_id", "trips.txt", f"(SELECT payload, trip_id FROM {t['trips.txt']})", "notice",
         False),
    ):
        parent_has_ids = ""
        if file == "routes.txt":  # agency_id may be left out in a one-agency feed without ids
            parent_has_ids = f" AND {_has(present, 'agency.txt', 'agency_id')}"
        if file == "trips.txt" and column == "route_id":
            parent_has_ids = f" AND {_has(present, 'routes.txt', 'route_id')}"
        checks.append(_issue_sql(
            file, t[file], column, "foreign_key_violation", severity,
            f"{_quoted(column)} || {sql_literal(f' is not in {parent_file}' + ('; row left out' if left else ''))}",
            f"t.{column} IS NOT NULL{parent_has_ids} AND NOT EXISTS (SELECT 1 FROM {parent_sql} AS parent "
            f"WHERE parent.payload = t.payload AND parent.{column} = t.{column})", left_out=left))
    return checks


def ordered_stop_times_sql(stop_times: str) -> str:
    """Stop times with a usable stop_sequence, in trip order: their place in the trip, the trip's
    stop count and the greatest shape_dist_traveled before them (for the trip-edge and distance checks)."""
    return f"""
        SELECT payload, csv_row, trip_id, arrival_time, departure_time,
            try_cast(shape_dist_traveled AS DOUBLE) AS distance,
            row_number() OVER trip_order AS nth, count(*) OVER (PARTITION BY payload, trip_id) AS stop_count,
            max(try_cast(shape_dist_traveled AS DOUBLE)) OVER (
                trip_order ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS previous_distance
        FROM {stop_times}
        WHERE trip_id IS NOT NULL AND try_cast(stop_sequence AS BIGINT) IS NOT NULL
        WINDOW trip_order AS (PARTITION BY payload, trip_id ORDER BY try_cast(stop_sequence AS BIGINT), csv_row)
    """


def _trip_checks(t: dict[str, str], ordered: str) -> list[str]:
    """Trips and their stop times: unusable and unused trips, trip edges, shape distances."""
    stop_times, trips = t["stop_times.txt"], t["trips.txt"]
    return [
        f"""SELECT payload, 'trips.txt', trips.csv_row, 'trip_id', 'unusable_trip', 'flagged',
                'trip ' || trips.trip_id || ' has ' || n || ' stop time(s), fewer than the two a trip needs; '
                || 'left out', true
            FROM {trips} AS trips JOIN (
                SELECT payload, trip_id, count(*) AS n FROM {stop_times} GROUP BY ALL HAVING count(*) < 2
            ) AS short USING (payload, trip_id)""",
        f"""SELECT payload, 'trips.txt', trips.csv_row, 'trip_id', 'unused_trip', 'warning',
                'trip ' || trips.trip_id || ' has no stop times (not counted)', false
            FROM {trips} AS trips
            WHERE trips.trip_id IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM {stop_times} AS s WHERE s.payload = trips.payload AND s.trip_id = trips.trip_id)""",
        f"""SELECT payload, 'stop_times.txt', csv_row,
                CASE WHEN arrival_time IS NULL THEN 'arrival_time' ELSE 'departure_time' END,
                'missing_trip_edge', 'notice',
                'the ' || CASE WHEN nth = 1 THEN 'first' ELSE 'last' END || ' stop time of trip ' || trip_id
                || ' has no ' || CASE WHEN arrival_time IS NULL THEN 'arrival_time' ELSE 'departure_time' END, false
            FROM {ordered}
            WHERE stop_count >= 2 AND (nth = 1 OR nth = stop_count)
                AND (arrival_time IS NULL OR departure_time IS NULL)""",
        f"""SELECT payload, 'stop_times.txt', csv_row, 'shape_dist_traveled', 'decreasing_or_equal_stop_time_distance',
                'notice', 'shape_dist_traveled ' || distance || ' of trip ' || trip_id
                || ' is not greater than the previous stop''s ' || previous_distance, false
            FROM {ordered}
            WHERE distance IS NOT NULL AND previous_distance IS NOT NULL AND distance <= previous_distance""",
    ]
