"""Wide statistical tables (one row per city, or per city and month, many measure columns) →
parsed indicator observations, through a declarative mapping in feeds.yml: no code per table.

    - feed_id: what_a_waste
      source: wide_table
      location: "/data/what_a_waste/city_level_data_0_0.csv"
      schedule: "@yearly"
      cities: {Vienna: vienna}            # or city_id: <one city> when the table has no city column
      options:
        format: csv                       # the only format today; delimiter (default ,) and
        delimiter: ","                    # encoding (utf-8 | utf-16 | latin-1) are read_csv's
        encoding: utf-8
        header_row: 3                     # optional: the file's line naming the columns (default 1,
                                          # or skip_rows + 1); the lines above it are not read
        skip_rows: 2                      # optional: lines at the top that are not the table (titles,
                                          # notes); with header_row: 0 the table has no header at all
        thousands_separator: ","          # optional: '100,000' → 100000 (else such a cell is quarantined)
        not_a_measurement: 'converted value'  # optional regex: a measure cell matching it is excluded
                                          # with its reason ("not a measurement: ..."), not counted broken
        city_column: city_name            # the column naming the city (omit: the feed's city_id)
        country_column: "#2"              # optional: the column naming the city's country (name or ISO3)
        countries: {"Republic of Korea": KOR}  # optional: the table's country spellings → ISO3 codes
        fix_double_encoded_text: true     # 'CÃ³rdoba' → 'Córdoba' in the city, country (and years_file `on`) columns
        year_column: year                 # the column holding the year of each row, or ...
        year_pattern: '^(\\d{4})'          # ... a regex: the first group (else the match) is the year
        years_file:                       # ... or a second file giving each row's reporting year
          location: "/data/what_a_waste/city_level_codebook_0.csv"
          on: [iso3c, city_name]          # columns both files have (compared trimmed, case-insensitively)
          year_column: year
          where: {measurement: total_msw_total_msw_generated_tons_year}
        aggregate: sum                    # optional: sum the measure columns per city and year first
        require_periods_per_year: 12      # optional (with aggregate): fewer periods → quarantined
        incomplete_years: quarantine      # or `keep`: keep the year with a note instead
        max_quarantine_share: 0.5         # optional (every source): see README "When a feed goes wrong"
        indicators:
          - indicator_code: msw_kg_per_resident_day
            value: total_msw_total_msw_generated_tons_year / population_population_number_of_people
            unit: t/year/resident
            note: optional free text carried to every row

Semantics, and the quirks of real tables they handle:
- Columns are named as the header spells them (case-insensitively; quote names with spaces or
  dots as `"PM2.5 (µg/m3)"` in a value expression) or by position, `#5` (the fifth column), in
  every option and expression: a header that repeats a name (the WHO database has two "Note"
  columns) must address those columns by position, and a name the header lacks is a FeedError
  that lists the header as the file spells it, with positions. A byte-order mark is dropped.
- `value` is a DuckDB SQL expression over the table's columns (feeds.yml is trusted configuration).
  The columns it names are read as numbers: an empty cell is *missing* (DSNY: not collected), never
  zero, so an expression over an empty cell gives no value and the row is quarantined with the
  empty column named. A cell that is not a number, or matches `not_a_measurement`, quarantines
  that indicator's value only (the row's other indicators stand), with the column and the cell.
  A result that is not a finite number (division by zero) is quarantined too.
- `unit` is a pint unit of the expression's result; `citypeers.units` converts it to the
  indicator's canonical unit or city total (`t/year/resident` → kg/resident/day; `t/year` → a
  city total dbt divides by population). An unknown unit quarantines the row with the reason.
- Cities are matched on their name *and* `country_column` when the table has one
  (`citypeers.feeds.city_keys`): Athens, United States is not Athens, Greece; a name several
  registry cities share is an error listing them; a city outside the registry is "out of scope".
- `year_pattern` reads years out of period labels: DSNY's `MONTH` is `1990 / 08`. The raw cell of
  `year_column` is the *period* that `require_periods_per_year` counts.
- `years_file`: What a Waste 2.0 has no year column in its city table; each city's reporting
  year (mixed, 1996-2017) is in the codebook, per measurement. Rows with no match get no year and
  are quarantined (kept for every interval, so the reason is seen); several different years for
  one row are quarantined as ambiguous. The years file is read with its header on line 1.
- `fix_double_encoded_text`: What a Waste names are UTF-8 bytes that were decoded as Windows-1252
  (or Latin-1) and re-encoded (`CÃ³rdoba`, `Vavaâ€™u`). Each distinct name is re-encoded to
  those bytes and decoded as UTF-8; a name for which that fails (already correct, `Córdoba`) is
  kept as it is. Done in Python per distinct name, joined back in SQL.
- `aggregate: sum` sums each named column per city and year (monthly → yearly; districts → city)
  before the expressions run, so a share is the share of the sums, not a mean of shares. Sums
  skip empty cells; when a column was empty in some of the rows summed, the row's note says how
  many. `require_periods_per_year: N` counts, per indicator, the distinct periods in which every
  column it names had a value; a year with fewer (DSNY 2023 has January-July; MGP was barely
  collected in 2003) is quarantined with the count — a partial-year sum is not an annual figure —
  or, with `incomplete_years: keep`, kept with that count in its note.
- `source_ref` names the file and the data row (`row 1` is the first row under the header).
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import fnmatch
import json
import re
from dataclasses import dataclass
from itertools import islice
from typing import Any

import duckdb

from citypeers.errors import FeedError
from citypeers.feeds import (
    INDICATOR_SOURCE_ROW_COLUMNS,
    NOT_A_MEASUREMENT,
    empty_indicator_rows_sql,
    finish_indicator_rows,
    new_table_name,
    sql_identifier,
    sql_literal,
)
from citypeers.feeds.files import fetch_files
from citypeers.feeds.payloads import LandedPayload, Payload
from citypeers.intervals import Interval
from citypeers.registry import Feed

FORMATS = ("csv",)
AGGREGATES = ("sum",)
INCOMPLETE_YEARS = ("quarantine", "keep")
ENCODINGS = {"utf-8": "utf-8-sig", "utf-16": "utf-16", "latin-1": "latin-1"}  # DuckDB's → Python's
CONFIG_ACTION = "fix options of the feed in feeds.yml (see docs/adding_feeds.md, wide_table)"
_POSITION = re.compile(r"^#(\d+)$")
_BYTE_ORDER_MARKS = ("\ufeff", "ï»¿")  # decoded as UTF-8, or as Latin-1


@dataclass(frozen=True)
class IndicatorMapping:
    indicator_code: str
    value: str
    unit: str
    note: str | None


@dataclass(frozen=True)
class YearsFile:
    location: str
    on: tuple[str, ...]
    year_column: str
    where: dict[str, str]


@dataclass(frozen=True)
class Mapping:
    """The feed's `options`, checked."""

    delimiter: str
    encoding: str
    skip_rows: int
    header_row: int
    thousands_separator: str | None
    not_a_measurement: str | None
    city_column: str | None
    country_column: str | None
    year_column: str | None
    year_pattern: str | None
    years_file: YearsFile | None
    fix_double_encoded_text: bool
    aggregate: str | None
    require_periods_per_year: int | None
    incomplete_years: str
    indicators: tuple[IndicatorMapping, ...]


def _config_error(feed: Feed, problem: str) -> FeedError:
    return FeedError(feed.feed_id, problem, where="feeds.yml options", action=CONFIG_ACTION)


def _whole_number(feed: Feed, options: dict[str, Any], key: str, default: int) -> int:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _config_error(feed, f"{key} must be a whole number of lines, 0 or more (got {value!r})")
    return value


def _layout(feed: Feed, options: dict[str, Any]) -> tuple[int, int]:
    """(skip_rows, header_row) with header_row as a line number of the file, 0 for no header."""
    skip_rows = _whole_number(feed, options, "skip_rows", 0)
    header_row = _whole_number(feed, options, "header_row", skip_rows + 1)
    if header_row and header_row <= skip_rows:
        raise _config_error(feed, f"header_row {header_row} is among the {skip_rows} skipped lines (skip_rows): "
                                  "give the header's line number in the file, or header_row: 0 for no header")
    return skip_rows, header_row


def _pattern(feed: Feed, options: dict[str, Any]) -> str | None:
    pattern = options.get("not_a_measurement")
    if pattern is None:
        return None
    try:
        duckdb.sql(f"SELECT regexp_matches('', {sql_literal(pattern)})").fetchall()
    except duckdb.Error as exc:
        raise _config_error(feed, f"not_a_measurement {pattern!r} is not a regular expression: {exc}") from exc
    return str(pattern)


def mapping(feed: Feed) -> Mapping:
    """The feed's declarative mapping, with a FeedError for anything missing or of the wrong kind."""
    options = feed.options
    if options.get("format", "csv") not in FORMATS:
        raise _config_error(feed, f"format {options.get('format')!r} is not supported (known: {', '.join(FORMATS)})")
    if options.get("encoding", "utf-8") not in ENCODINGS:
        raise _config_error(feed, f"encoding {options['encoding']!r} is not supported (known: {', '.join(ENCODINGS)})")
    if options.get("aggregate") not in (None, *AGGREGATES):
        raise _config_error(feed, f"aggregate {options['aggregate']!r} is not supported (known: sum)")
    if options.get("incomplete_years", "quarantine") not in INCOMPLETE_YEARS:
        raise _config_error(feed, f"incomplete_years must be one of {', '.join(INCOMPLETE_YEARS)}")
    periods = options.get("require_periods_per_year")
    if periods is not None and (not isinstance(periods, int) or periods < 1 or not options.get("aggregate")):
        raise _config_error(feed, "require_periods_per_year needs a positive whole number and `aggregate: sum`")
    if not options.get("city_column") and not feed.city_id:
        raise _config_error(feed, "needs options.city_column (the column naming the city) or the feed's city_id")
    if options.get("country_column") and not options.get("city_column"):
        raise _config_error(feed, "country_column needs city_column: the country is matched with the city's name")
    years_file = None
    if options.get("years_file"):
        raw = options["years_file"]
        if not isinstance(raw, dict) or not raw.get("location") or not raw.get("on") or not raw.get("year_column"):
            raise _config_error(feed, "years_file needs location, on (a list of columns) and year_column")
        on = raw["on"] if isinstance(raw["on"], list) else [raw["on"]]
        years_file = YearsFile(
            location=str(raw["location"]), on=tuple(str(c) for c in on), year_column=str(raw["year_column"]),
            where={str(k): str(v) for k, v in (raw.get("where") or {}).items()},
        )
    if bool(options.get("year_column")) == bool(years_file):
        raise _config_error(feed, "needs exactly one of options.year_column or options.years_file")
    indicators = []
    for number, raw in enumerate(options.get("indicators") or [], start=1):
        missing = [key for key in ("indicator_code", "value", "unit") if not (isinstance(raw, dict) and raw.get(key))]
        if missing:
            raise _config_error(feed, f"indicator #{number} lacks {', '.join(missing)}")
        indicators.append(IndicatorMapping(
            indicator_code=str(raw["indicator_code"]).strip().lower(), value=str(raw["value"]),
            unit=str(raw["unit"]), note=str(raw["note"]) if raw.get("note") else None,
        ))
    if not indicators:
        raise _config_error(feed, "options.indicators is empty: map at least one indicator_code to a value")
    skip_rows, header_row = _layout(feed, options)
    return Mapping(
        delimiter=str(options.get("delimiter", ",")),
        encoding=str(options.get("encoding", "utf-8")),
        skip_rows=skip_rows,
        header_row=header_row,
        thousands_separator=str(options["thousands_separator"]) if options.get("thousands_separator") else None,
        not_a_measurement=_pattern(feed, options),
        city_column=_column_option(options.get("city_column")),
        country_column=_column_option(options.get("country_column")),
        year_column=_column_option(options.get("year_column")),
        year_pattern=options.get("year_pattern"),
        years_file=years_file,
        fix_double_encoded_text=bool(options.get("fix_double_encoded_text", False)),
        aggregate=options.get("aggregate"),
        require_periods_per_year=periods,
        incomplete_years=str(options.get("incomplete_years", "quarantine")),
        indicators=tuple(indicators),
    )


def _column_option(value: Any) -> str | None:
    """A column option as text: a name, or a position written quoted, "#5" (unquoted, YAML reads
    `#5` as a comment)."""
    return str(value) if value not in (None, "") else None


def fetch(feed: Feed, interval: Interval) -> list[Payload]:
    """The table file(s) matching the location for the interval's years, then the years_file."""
    payloads = fetch_files(feed, interval)
    years_file = mapping(feed).years_file
    if years_file:
        payloads += fetch_files(dataclasses.replace(feed, location=years_file.location), interval)
    return payloads


# --- Reading ----------------------------------------------------------------------------------


def fix_double_encoded(text: str) -> str:
    """'CÃ³rdoba' → 'Córdoba': undo UTF-8 bytes decoded as Windows-1252/Latin-1; else unchanged."""
    if text.isascii():
        return text
    raw = bytearray()
    for char in text:
        try:
            raw += char.encode("cp1252")
        except UnicodeEncodeError:
            if ord(char) > 0xFF:
                return text
            raw.append(ord(char))  # the five bytes cp1252 leaves undefined pass through as Latin-1
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return text


def _fixed_text_table(con: duckdb.DuckDBPyConnection, sources: list[tuple[str, str]]) -> str:
    """A temp table (raw_text, fixed_text) of the distinct values of the given (table, column) pairs
    that double-encoding repair changes: repaired in Python once per distinct value, joined in SQL."""
    raw_values = {
        value
        for source, column in sources
        for (value,) in con.sql(
            f"SELECT DISTINCT {sql_identifier(column)} FROM {source} WHERE {sql_identifier(column)} IS NOT NULL"
        ).fetchall()
    }
    table = new_table_name("wide_table_fixed_text")
    con.execute(f"CREATE TEMP TABLE {table} (raw_text VARCHAR PRIMARY KEY, fixed_text VARCHAR)")
    changed = [(value, fix_double_encoded(value)) for value in sorted(raw_values)]
    changed = [(value, fixed) for value, fixed in changed if fixed != value]
    if changed:
        con.executemany(f"INSERT INTO {table} VALUES (?, ?)", changed)
    return table


def _text_sql(cell: str, fixed_table: str | None) -> str:
    """A text cell, trimmed, repaired through the fixed-text table when the feed asks for it."""
    if fixed_table:
        cell = f"coalesce((SELECT fixed_text FROM {fixed_table} WHERE raw_text = {cell}), {cell})"
    return f"nullif(trim({cell}), '')"


class _Table:
    """One landed CSV table read into a temp table of text columns named by position
    (`column_1`, `column_2`, ...) with its data row number (`source_row`). `names` is the header as
    the file spells it, so options and expressions can name a column or give its position, and
    every message shows the column as the user sees it."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, payload: LandedPayload, spec: Mapping, feed: Feed,
        *, skip_rows: int = 0, header_row: int = 1,
    ):
        self.con, self.payload, self.spec, self.feed = con, payload, spec, feed
        self.header_row = header_row
        first_data_line = header_row or skip_rows + 1
        lines = self._leading_lines(first_data_line)
        fields = next(csv.reader([lines[first_data_line - 1]], delimiter=spec.delimiter))
        fields[0] = fields[0].removeprefix(_BYTE_ORDER_MARKS[0]).removeprefix(_BYTE_ORDER_MARKS[1])
        self.names: list[str | None] = [f.strip() for f in fields] if header_row else [None] * len(fields)
        self.raw = new_table_name("wide_table_raw")
        columns = "{" + ", ".join(f"'column_{k}': 'VARCHAR'" for k in range(1, len(fields) + 1)) + "}"
        # No sniffing (titles above the header confuse it): plain CSV as the options say. One thread,
        # as null padding (short rows) with quoted newlines needs, which also keeps row numbers in file order.
        source = (
            f"read_csv({sql_literal(str(payload.path))}, header = false, auto_detect = false, "
            f"skip = {header_row or skip_rows}, delim = {sql_literal(spec.delimiter)}, quote = '\"', escape = '\"', "
            f"null_padding = true, parallel = false, encoding = {sql_literal(spec.encoding)}, columns = {columns})"
        )
        try:
            con.execute(f"CREATE TEMP TABLE {self.raw} AS SELECT row_number() OVER () AS source_row, * FROM {source}")
        except duckdb.Error as exc:
            raise FeedError(feed.feed_id, f"cannot read the table as CSV with {len(fields)} columns: {exc}",
                            where=payload.request,
                            action="check options.delimiter, encoding, skip_rows and header_row of the feed, "
                                   "and the file") from exc

    def _leading_lines(self, count: int) -> list[str]:
        try:
            with open(self.payload.path, encoding=ENCODINGS[self.spec.encoding], errors="replace", newline="") as f:
                lines = list(islice(f, count))
        except (OSError, LookupError, UnicodeError) as exc:
            raise FeedError(self.feed.feed_id, f"cannot read the table's first lines: {exc}",
                            where=self.payload.request, action="check options.encoding of the feed") from exc
        if len(lines) < count:
            what = f"its header (header_row: {self.header_row})" if self.header_row else "a first data row"
            raise FeedError(self.feed.feed_id, f"the table has {len(lines)} lines, too few for {what}",
                            where=self.payload.request, action=f"check the file; {CONFIG_ACTION}")
        return lines

    def display(self, column: str) -> str:
        """A column as the user sees it: its name, with its position when the name is not unique."""
        position = int(column.rsplit("_", 1)[1])
        name = self.names[position - 1]
        if not name:
            return f"#{position}"
        return name if self.names.count(name) == 1 else f"{name} (#{position})"

    def _header_listing(self) -> str:
        if not self.header_row:
            return f"the table has no header (header_row: 0): address its columns by position, #1 to #{len(self.names)}"
        shown = ", ".join(f"'{name}' (#{k})" for k, name in enumerate(self.names[:40], start=1))
        more = f", ... ({len(self.names)} columns)" if len(self.names) > 40 else ""
        return f"the header (line {self.header_row}) has {shown}{more}"

    def column(self, reference: str, role: str) -> str:
        """The internal name of a column a mapping names (or gives by position, "#5"), or a FeedError
        that shows the header as the file spells it."""
        reference = str(reference).strip()
        position = _POSITION.match(reference)
        if position:
            number = int(position.group(1))
            if 1 <= number <= len(self.names):
                return f"column_{number}"
            problem = f"{role} names column {reference}, but the table has {len(self.names)} columns"
        else:
            folded = reference.casefold()
            matches = [k for k, name in enumerate(self.names, start=1) if name and name.casefold() == folded]
            if len(matches) == 1:
                return f"column_{matches[0]}"
            if matches:
                positions = ", ".join(f"#{k}" for k in matches)
                problem = (f"{role} names column '{reference}', which the header has {len(matches)} times "
                           f"({positions}): address one by position, e.g. \"#{matches[0]}\"")
            else:
                names = {name.casefold(): name for name in self.names if name}
                close = difflib.get_close_matches(folded, list(names), n=3)
                hint = f"; closest: {', '.join(names[c] for c in close)}" if close else ""
                problem = f"{role} names column '{reference}', which the file lacks{hint}"
        raise FeedError(
            self.feed.feed_id, f"{problem}; {self._header_listing()}", where=self.payload.request,
            action=f"correct the column in the feed's options in feeds.yml, or fix the file; {CONFIG_ACTION}",
        )

    def expression(self, expression: str, code: str) -> tuple[str, list[str]]:
        """A value expression with every column it names (or gives by position) replaced by the
        table's internal column, read from DuckDB's own parse tree; and those columns, in order."""
        tree = json.loads(self.con.execute("SELECT json_serialize_sql(?)", [f"SELECT {expression}"]).fetchone()[0])
        if tree.get("error"):
            raise FeedError(self.feed.feed_id, f"indicator {code}: value {expression!r} is not a SQL expression: "
                            f"{tree.get('error_message')}", where="feeds.yml options.indicators", action=CONFIG_ACTION)
        role = f"indicator {code} (value {expression!r})"
        columns: list[str] = []

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                reference = None
                if node.get("class") == "COLUMN_REF":
                    reference = node["column_names"][-1]
                elif node.get("class") == "POSITIONAL_REFERENCE":
                    reference = f"#{node['index']}"
                if reference is not None:
                    internal = self.column(reference, role)
                    columns.append(internal)
                    node.clear()
                    node.update({"class": "COLUMN_REF", "type": "COLUMN_REF", "alias": "", "query_location": 0,
                                 "column_names": [internal]})
                    return
                for child in node.values():
                    walk(child)
            elif isinstance(node, list):
                for child in node:
                    walk(child)

        walk(tree["statements"][0]["node"]["select_list"])
        sql = self.con.execute("SELECT json_deserialize_sql(?::JSON)", [json.dumps(tree)]).fetchone()[0]
        return sql.removeprefix("SELECT "), list(dict.fromkeys(columns))


# --- Source rows ------------------------------------------------------------------------------


def _is_years_payload(payload: LandedPayload, spec: Mapping, feed: Feed, interval: Interval) -> bool:
    if spec.years_file is None:
        return False
    located = dataclasses.replace(feed, location=spec.years_file.location)
    patterns = {located.resolved_location(year=year) for year in interval.years()}
    return any(fnmatch.fnmatch(payload.request, pattern) for pattern in patterns)


def _years_table(
    con: duckdb.DuckDBPyConnection, years_payloads: list[LandedPayload], spec: Mapping, feed: Feed
) -> str:
    """Temp table (key0, key1, ..., year_count, year_text) from the years file(s)."""
    years_file = spec.years_file
    assert years_file is not None
    if not years_payloads:
        raise FeedError(feed.feed_id, "years_file matched no landed file", where=years_file.location,
                        action="check options.years_file.location in feeds.yml and that the file exists")
    tables = [_Table(con, payload, spec, feed) for payload in years_payloads]
    on = {t.raw: [t.column(name, "years_file.on") for name in years_file.on] for t in tables}
    fixed = (
        _fixed_text_table(con, [(t.raw, c) for t in tables for c in on[t.raw]])
        if spec.fix_double_encoded_text else None
    )
    selects = []
    for t in tables:
        keys = ", ".join(f"lower({_text_sql(sql_identifier(c), fixed)}) AS key{i}" for i, c in enumerate(on[t.raw]))
        year = sql_identifier(t.column(years_file.year_column, "years_file.year_column"))
        filters = [
            f"trim({sql_identifier(t.column(column, 'years_file.where'))}) = {sql_literal(value)}"
            for column, value in years_file.where.items()
        ]
        selects.append(f"SELECT {keys}, trim({year}) AS year_text FROM {t.raw} WHERE {' AND '.join(filters) or 'true'}")
    table = new_table_name("wide_table_years")
    con.execute(f"""
        CREATE TEMP TABLE {table} AS
        SELECT {", ".join(f"key{i}" for i in range(len(years_file.on)))},
               count(DISTINCT year_text) AS year_count,
               min(year_text) AS year_text
        FROM ({" UNION ALL ".join(selects)})
        GROUP BY ALL
    """)
    return table


def _number_sql(cell: str, spec: Mapping) -> str:
    """A cell as a number: spaces dropped (and the thousands separator, if the feed names one); NULL
    for a cell the feed marks as not a measurement."""
    text = f"replace(nullif(trim({cell}), ''), ' ', '')"
    if spec.thousands_separator:
        text = f"replace({text}, {sql_literal(spec.thousands_separator)}, '')"
    number = f"try_cast({text} AS DOUBLE)"
    if spec.not_a_measurement:
        number = f"CASE WHEN NOT regexp_matches(trim({cell}), {sql_literal(spec.not_a_measurement)}) THEN {number} END"
    return number


def _cell_problem_sql(table: _Table, column: str) -> str:
    """Why a measure cell gives no number although it is not empty (NULL when it does, or is empty)."""
    spec, cell = table.spec, f"raw.{sql_identifier(column)}"
    shown = table.display(column)
    quoted = f"'''' || trim({cell}) || ''''"
    cases = []
    if spec.not_a_measurement:
        cases.append(
            f"WHEN regexp_matches(trim({cell}), {sql_literal(spec.not_a_measurement)}) THEN "
            f"{sql_literal(f'{NOT_A_MEASUREMENT}: column {shown} holds ')} || {quoted} || "
            f"{sql_literal(' (options.not_a_measurement)')}"
        )
    cases.append(
        f"WHEN nullif(trim({cell}), '') IS NOT NULL AND {_number_sql(cell, spec)} IS NULL THEN "
        f"{sql_literal(f'column {shown}: ')} || {quoted} || ' is not a number'"
    )
    return f"CASE {' '.join(cases)} END"


def _rows_table(table: _Table, years: str | None, measures: list[str]) -> str:
    """Temp table: one row per table row with source_row, city_key, country_key, period, year,
    row_problem (city, year), and per measure column its number (NULL when empty: missing, not
    zero), `problem_<i>` (a cell that is not a number, or not a measurement) and `empty_<i>`."""
    spec, con = table.spec, table.con
    city = table.column(spec.city_column, "city_column") if spec.city_column else None
    country = table.column(spec.country_column, "country_column") if spec.country_column else None
    on = [table.column(name, "years_file.on") for name in spec.years_file.on] if spec.years_file else []
    text_columns = list(dict.fromkeys(c for c in [city, country, *on] if c))
    fixed = (
        _fixed_text_table(con, [(table.raw, c) for c in text_columns])
        if spec.fix_double_encoded_text and text_columns else None
    )
    join = ""
    if spec.year_column:
        year_column = table.column(spec.year_column, "year_column")
        period = f"nullif(trim(raw.{sql_identifier(year_column)}), '')"
        year_text = period
        if spec.year_pattern:
            group = 1 if "(" in spec.year_pattern.replace("(?", "") else 0
            year_text = f"nullif(regexp_extract({period}, {sql_literal(spec.year_pattern)}, {group}), '')"
        pattern = f" (year_pattern {spec.year_pattern})" if spec.year_pattern else ""
        year_problem = (
            f"'year ' || coalesce('''' || {period} || '''', '(empty)') || "
            + sql_literal(f" in column {table.display(year_column)} is not a year{pattern}")
        )
    else:
        assert years is not None and spec.years_file is not None
        join = f"LEFT JOIN {years} AS years ON " + " AND ".join(
            f"lower({_text_sql('raw.' + sql_identifier(c), fixed)}) = years.key{i}" for i, c in enumerate(on)
        )
        year_text = "CASE WHEN years.year_count = 1 THEN years.year_text END"
        period = year_text
        condition = ", ".join(f"{k} = {v}" for k, v in spec.years_file.where.items())
        year_problem = (
            "CASE WHEN years.year_count > 1 THEN 'several reporting years (' || years.year_count || ')' "
            "ELSE 'no reporting year' END || "
            + sql_literal(f" in years_file for this row (matched on {', '.join(spec.years_file.on)}"
                          + (f" where {condition}" if condition else "") + ")")
        )
    city_key = _text_sql("raw." + sql_identifier(city), fixed) if city else "NULL::VARCHAR"
    country_key = _text_sql("raw." + sql_identifier(country), fixed) if country else "NULL::VARCHAR"
    cells = "".join(
        f",\n            {_number_sql('raw.' + sql_identifier(c), spec)} AS {sql_identifier(c)}"
        f",\n            {_cell_problem_sql(table, c)} AS problem_{i}"
        f",\n            (nullif(trim(raw.{sql_identifier(c)}), '') IS NULL)::INTEGER AS empty_{i}"
        for i, c in enumerate(measures)
    )
    problems = [
        f"CASE WHEN {city_key} IS NULL THEN {sql_literal(f'no city in column {table.display(city)}')} END"
        if city else "NULL",
        f"CASE WHEN try_cast({year_text} AS INTEGER) IS NULL THEN {year_problem} END",
    ]
    rows = new_table_name("wide_table_rows")
    con.execute(f"""
        CREATE TEMP TABLE {rows} AS
        SELECT
            raw.source_row,
            {city_key} AS city_key,
            {country_key} AS country_key,
            {period} AS period,
            try_cast({year_text} AS INTEGER) AS year,
            nullif(concat_ws('; ', {", ".join(problems)}), '') AS row_problem{cells}
        FROM {table.raw} AS raw
        {join}
    """)
    return rows


def _values_table(
    con: duckdb.DuckDBPyConnection, rows: str, spec: Mapping, measures: list[str], per_indicator: list[list[str]]
) -> str:
    """Temp table the value expressions run over: the rows as they are, or (aggregate: sum) their
    sums per city and year, with row_count, `empty_<i>` (rows with an empty cell in measure i),
    `problem_<i>` (the cells of measure i that are not numbers) and `periods_<k>` (periods in which
    every column indicator k names had a value)."""
    table = new_table_name("wide_table_values")
    if not spec.aggregate:
        periods = "".join(f", 1 AS periods_{k}" for k in range(len(per_indicator)))
        con.execute(f"CREATE TEMP TABLE {table} AS SELECT *, 1 AS row_count{periods} FROM {rows}")
        return table
    sums = "".join(
        f", sum({sql_identifier(c)}) AS {sql_identifier(c)}, sum(empty_{i}) AS empty_{i}"
        f", nullif(string_agg(DISTINCT problem_{i}, '; ' ORDER BY problem_{i}), '') AS problem_{i}"
        for i, c in enumerate(measures)
    )
    periods = "".join(
        ", count(DISTINCT period) FILTER (WHERE "
        f"{' AND '.join(f'{sql_identifier(c)} IS NOT NULL' for c in columns) or 'true'}) AS periods_{k}"
        for k, columns in enumerate(per_indicator)
    )
    con.execute(f"""
        CREATE TEMP TABLE {table} AS
        SELECT
            city_key, country_key, year,
            min(source_row) AS source_row,
            count(*) AS row_count,
            nullif(string_agg(DISTINCT row_problem, '; ' ORDER BY row_problem), '') AS row_problem{sums}{periods}
        FROM {rows}
        GROUP BY city_key, country_key, year
    """)
    return table


def _indicator_sql(
    table: _Table, values: str, k: int, indicator: IndicatorMapping, expression: str, columns: list[str],
    measures: list[str], payload: LandedPayload,
) -> str:
    """Indicator source rows of one mapped indicator: its value expression over the values table.
    Only the cells of the columns it names can keep its value out."""
    spec = table.spec
    value = f"({expression})"
    indexes = [measures.index(c) for c in columns]
    empty = [f"CASE WHEN empty_{i} > 0 THEN {sql_literal(table.display(measures[i]))} END" for i in indexes]
    empty_columns = f"nullif(concat_ws(', ', {', '.join(empty) or 'NULL'}), '')"
    cell_problems = f"nullif(concat_ws('; ', {', '.join(f'problem_{i}' for i in indexes) or 'NULL'}), '')"
    problems = ["row_problem", cell_problems]
    notes = [sql_literal(indicator.note) if indicator.note else "NULL"]
    nothing_else = f"row_problem IS NULL AND {cell_problems} IS NULL AND {empty_columns} IS NOT NULL"
    if spec.aggregate:
        notes.append(
            f"CASE WHEN {value} IS NOT NULL AND {empty_columns} IS NOT NULL THEN "
            f"'sum of ' || row_count || ' rows; some cells empty (not reported) in ' || {empty_columns} END"
        )
        problems.append(
            f"CASE WHEN {value} IS NULL AND {nothing_else} THEN "
            f"'no value: ' || {empty_columns} || ' empty (not reported) in every row summed' END"
        )
        if spec.require_periods_per_year:
            need = spec.require_periods_per_year
            shown = ", ".join(table.display(c) for c in columns) or "the table"
            incomplete = (
                f"CASE WHEN periods_{k} < {need} THEN year || ' has ' || periods_{k} || "
                + sql_literal(f" of {need} periods with a value in {shown} (require_periods_per_year: {need})")
                + " END"
            )
            (problems if spec.incomplete_years == "quarantine" else notes).append(incomplete)
    else:
        problems.append(
            f"CASE WHEN {value} IS NULL AND {nothing_else} THEN "
            f"'no value: empty cell (not reported) in ' || {empty_columns} END"
        )
    problems.append(
        f"CASE WHEN NOT isfinite({value}) THEN "
        f"{sql_literal(f'value {indicator.value} is not a finite number (division by zero?)')} END"
    )
    if spec.aggregate:
        ref = " || ', sum of ' || row_count || ' rows for ' || coalesce(year::VARCHAR, '(no year)')"
    else:
        ref = " || ', row ' || source_row"
    return f"""
    SELECT
        city_key,
        {sql_literal(indicator.indicator_code)} AS indicator_code,
        year,
        CASE WHEN isfinite({value}) THEN {value} END::DOUBLE AS source_value,
        {sql_literal(indicator.unit)} AS source_unit,
        {sql_literal(payload.request)}{ref} AS source_ref,
        nullif(concat_ws('; ', {', '.join(notes)}), '') AS note,
        {sql_literal(payload.sha256)} AS payload_sha256,
        source_row,
        nullif(concat_ws('; ', {', '.join(problems)}), '') AS row_error,
        country_key
    FROM {values}
    """


def source_rows(
    con: duckdb.DuckDBPyConnection, payloads: list[LandedPayload], feed: Feed, interval: Interval
) -> str:
    """Landed tables → name of a temp table of indicator source rows (before cities and units),
    with the row's `country_key` (NULL without options.country_column)."""
    spec = mapping(feed)
    years_payloads = [p for p in payloads if _is_years_payload(p, spec, feed, interval)]
    years = _years_table(con, years_payloads, spec, feed) if spec.years_file else None
    selects = []
    for payload in [p for p in payloads if p not in years_payloads]:
        table = _Table(con, payload, spec, feed, skip_rows=spec.skip_rows, header_row=spec.header_row)
        resolved = [table.expression(indicator.value, indicator.indicator_code) for indicator in spec.indicators]
        per_indicator = [columns for _, columns in resolved]
        measures = list(dict.fromkeys(c for columns in per_indicator for c in columns))
        values = _values_table(con, _rows_table(table, years, measures), spec, measures, per_indicator)
        for k, (indicator, (expression, columns)) in enumerate(zip(spec.indicators, resolved, strict=True)):
            sql = _indicator_sql(table, values, k, indicator, expression, columns, measures, payload)
            try:
                con.sql(sql).limit(0).fetchall()
            except duckdb.Error as exc:
                raise FeedError(
                    feed.feed_id,
                    f"indicator {indicator.indicator_code}: value {indicator.value!r} "
                    f"does not run over the table: {exc}",
                    where=payload.request,
                    action=CONFIG_ACTION,
                ) from exc
            selects.append(sql)
    result = new_table_name("wide_table_source_rows")
    columns = ", ".join([*(name for name, _ in INDICATOR_SOURCE_ROW_COLUMNS), "country_key"])
    empty = f"SELECT *, NULL::VARCHAR AS country_key FROM ({empty_indicator_rows_sql()})"
    con.execute(
        f"CREATE TEMP TABLE {result} AS SELECT {columns} FROM ("
        + " UNION ALL ".join(selects or [empty])
        + ")"
    )
    return result


def parse(
    con: duckdb.DuckDBPyConnection, payloads: list[LandedPayload], feed: Feed, interval: Interval
) -> duckdb.DuckDBPyRelation:
    """Landed wide tables → parsed indicator observations for the interval's years."""
    return finish_indicator_rows(con, source_rows(con, payloads, feed, interval), feed, interval)
