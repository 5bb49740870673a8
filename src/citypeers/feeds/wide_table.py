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
        thousands_separator: ","          # optional: '100,000' → 100000 (else such a cell is quarantined)
        city_column: city_name            # the column naming the city (omit: the feed's city_id)
        fix_double_encoded_text: true     # 'CÃ³rdoba' → 'Córdoba' in the city (and years_file `on`) columns
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
        indicators:
          - indicator_code: msw_kg_per_resident_day
            value: total_msw_total_msw_generated_tons_year / population_population_number_of_people
            unit: t/year/resident
            note: optional free text carried to every row

Semantics, and the quirks of real tables they handle:
- `value` is a DuckDB SQL expression over the table's columns (feeds.yml is trusted configuration).
  Every column it names must exist in the file (case-insensitively; quote names with spaces as
  `"PAPER TONS"`), else the feed fails with a FeedError naming the indicator and the column. The
  columns it names are read as numbers: an empty cell is *missing* (DSNY: not collected), never
  zero, so an expression over an empty cell gives no value and the row is quarantined with the
  empty column named; a cell that is not a number quarantines its row. A result that is not a
  finite number (division by zero) is quarantined too.
- `unit` is a pint unit of the expression's result; `citypeers.units` converts it to the
  indicator's canonical unit or city total (`t/year/resident` → kg/resident/day; `t/year` → a
  city total dbt divides by population). An unknown unit quarantines the row with the reason.
- `year_pattern` reads years out of period labels: DSNY's `MONTH` is `1990 / 08`. The raw cell of
  `year_column` is the *period* that `require_periods_per_year` counts.
- `years_file`: What a Waste 2.0 has no year column in its city table; each city's reporting
  year (mixed, 1996-2017) is in the codebook, per measurement. Rows with no match get no year and
  are quarantined (kept for every interval, so the reason is seen); several different years for
  one row are quarantined as ambiguous.
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
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import json
from dataclasses import dataclass
from typing import Any

import duckdb

from citypeers.errors import FeedError
from citypeers.feeds import (
    INDICATOR_SOURCE_ROW_COLUMNS,
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
CONFIG_ACTION = "fix options of the feed in feeds.yml (see README 'Adding a feed', wide_table)"


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
    thousands_separator: str | None
    city_column: str | None
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


def mapping(feed: Feed) -> Mapping:
    """The feed's declarative mapping, with a FeedError for anything missing or of the wrong kind."""
    options = feed.options
    if options.get("format", "csv") not in FORMATS:
        raise _config_error(feed, f"format {options.get('format')!r} is not supported (known: {', '.join(FORMATS)})")
    if options.get("aggregate") not in (None, *AGGREGATES):
        raise _config_error(feed, f"aggregate {options['aggregate']!r} is not supported (known: sum)")
    if options.get("incomplete_years", "quarantine") not in INCOMPLETE_YEARS:
        raise _config_error(feed, f"incomplete_years must be one of {', '.join(INCOMPLETE_YEARS)}")
    periods = options.get("require_periods_per_year")
    if periods is not None and (not isinstance(periods, int) or periods < 1 or not options.get("aggregate")):
        raise _config_error(feed, "require_periods_per_year needs a positive whole number and `aggregate: sum`")
    if not options.get("city_column") and not feed.city_id:
        raise _config_error(feed, "needs options.city_column (the column naming the city) or the feed's city_id")
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
    return Mapping(
        delimiter=str(options.get("delimiter", ",")),
        encoding=str(options.get("encoding", "utf-8")),
        thousands_separator=str(options["thousands_separator"]) if options.get("thousands_separator") else None,
        city_column=options.get("city_column"),
        year_column=options.get("year_column"),
        year_pattern=options.get("year_pattern"),
        years_file=years_file,
        fix_double_encoded_text=bool(options.get("fix_double_encoded_text", False)),
        aggregate=options.get("aggregate"),
        require_periods_per_year=periods,
        incomplete_years=str(options.get("incomplete_years", "quarantine")),
        indicators=tuple(indicators),
    )


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


def _read_csv(path: str, spec: Mapping) -> str:
    return (
        f"read_csv({sql_literal(path)}, header = true, all_varchar = true, delim = {sql_literal(spec.delimiter)}, "
        f"encoding = {sql_literal(spec.encoding)})"
    )


def _header(con: duckdb.DuckDBPyConnection, source: str, feed: Feed, where: str) -> dict[str, str]:
    """Lower-cased column name → the column as the file spells it."""
    try:
        return {name.lower(): name for name in con.sql(f"SELECT * FROM {source} LIMIT 0").columns}
    except duckdb.Error as exc:
        raise FeedError(feed.feed_id, f"cannot read the table as CSV: {exc}", where=where,
                        action="check options.delimiter and options.encoding of the feed") from exc


def _column(header: dict[str, str], name: str, feed: Feed, where: str, role: str) -> str:
    """The file's spelling of a column the mapping names, or a FeedError saying what is there."""
    found = header.get(name.lower())
    if found is None:
        close = difflib.get_close_matches(name.lower(), list(header), n=3)
        hint = f"; closest: {', '.join(header[c] for c in close)}" if close else ""
        raise FeedError(
            feed.feed_id,
            f"{role} names column '{name}', which the file lacks{hint} ({len(header)} columns)",
            where=where,
            action=f"correct the column name in the feed's options in feeds.yml, or fix the file; {CONFIG_ACTION}",
        )
    return found


def referenced_columns(con: duckdb.DuckDBPyConnection, expression: str, feed: Feed, code: str) -> list[str]:
    """Column names a value expression uses, read from DuckDB's own parse tree (json_serialize_sql)."""
    tree = json.loads(con.execute("SELECT json_serialize_sql(?)", [f"SELECT {expression}"]).fetchone()[0])
    if tree.get("error"):
        raise FeedError(feed.feed_id, f"indicator {code}: value {expression!r} is not a SQL expression: "
                        f"{tree.get('error_message')}", where="feeds.yml options.indicators", action=CONFIG_ACTION)
    names: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("class") == "COLUMN_REF":
                names.append(node["column_names"][-1])
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(tree["statements"][0]["node"]["select_list"])
    return list(dict.fromkeys(names))


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


# --- Source rows ------------------------------------------------------------------------------


class _Table:
    """One landed CSV table read into a temp table (all text, with its data row number)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, payload: LandedPayload, spec: Mapping, feed: Feed):
        self.con, self.payload, self.spec, self.feed = con, payload, spec, feed
        source = _read_csv(str(payload.path), spec)
        self.header = _header(con, source, feed, payload.request)
        self.raw = new_table_name("wide_table_raw")
        try:
            con.execute(f"CREATE TEMP TABLE {self.raw} AS SELECT row_number() OVER () AS source_row, * FROM {source}")
        except duckdb.Error as exc:
            raise FeedError(feed.feed_id, f"cannot read the table as CSV: {exc}", where=payload.request,
                            action="check options.delimiter and options.encoding of the feed, and the file") from exc

    def column(self, name: str, role: str) -> str:
        """The file's spelling of a column the mapping names (FeedError if the file lacks it)."""
        return _column(self.header, name, self.feed, self.payload.request, role)


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
    first = tables[0]
    on = [first.column(name, "years_file.on") for name in years_file.on]
    year = sql_identifier(first.column(years_file.year_column, "years_file.year_column"))
    filters = [
        f"trim({sql_identifier(first.column(column, 'years_file.where'))}) = {sql_literal(value)}"
        for column, value in years_file.where.items()
    ]
    union = " UNION ALL BY NAME ".join(f"SELECT * FROM {t.raw}" for t in tables)
    fixed = _fixed_text_table(con, [(t.raw, c) for t in tables for c in on]) if spec.fix_double_encoded_text else None
    keys = ", ".join(f"lower({_text_sql(sql_identifier(c), fixed)}) AS key{i}" for i, c in enumerate(on))
    table = new_table_name("wide_table_years")
    con.execute(f"""
        CREATE TEMP TABLE {table} AS
        SELECT {", ".join(f"key{i}" for i in range(len(on)))},
               count(DISTINCT trim({year})) AS year_count,
               min(trim({year})) AS year_text
        FROM (SELECT {keys}, {year} FROM ({union}) WHERE {" AND ".join(filters) or "true"})
        GROUP BY ALL
    """)
    return table


def _number_sql(cell: str, spec: Mapping) -> str:
    """A cell as a number: spaces dropped (and the thousands separator, if the feed names one)."""
    text = f"replace(nullif(trim({cell}), ''), ' ', '')"
    if spec.thousands_separator:
        text = f"replace({text}, {sql_literal(spec.thousands_separator)}, '')"
    return f"try_cast({text} AS DOUBLE)"


def _rows_table(table: _Table, years: str | None, measures: list[str]) -> str:
    """Temp table: one row per table row with source_row, city_key, period, year, row_problem and
    each measure column as DOUBLE (an empty cell is NULL: missing, not zero)."""
    spec, con = table.spec, table.con
    city = table.column(spec.city_column, "city_column") if spec.city_column else None
    on = [table.column(name, "years_file.on") for name in spec.years_file.on] if spec.years_file else []
    text_columns = [c for c in [city, *on] if c]
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
            + sql_literal(f" in column {year_column} is not a year{pattern}")
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
            + sql_literal(f" in years_file for this row (matched on {', '.join(on)}"
                          + (f" where {condition}" if condition else "") + ")")
        )
    city_key = _text_sql("raw." + sql_identifier(city), fixed) if city else "NULL::VARCHAR"
    numbers = "".join(
        f",\n            {_number_sql('raw.' + sql_identifier(c), spec)} AS {sql_identifier(c)}" for c in measures
    )
    problems = [
        f"CASE WHEN {city_key} IS NULL THEN {sql_literal(f'no city in column {city}')} END" if city else "NULL",
        f"CASE WHEN try_cast({year_text} AS INTEGER) IS NULL THEN {year_problem} END",
        *(
            f"CASE WHEN nullif(trim(raw.{sql_identifier(c)}), '') IS NOT NULL "
            f"AND {_number_sql('raw.' + sql_identifier(c), spec)} IS NULL "
            f"THEN {sql_literal(f'column {c}: ')} || '''' || raw.{sql_identifier(c)} || ''' is not a number' END"
            for c in measures
        ),
    ]
    rows = new_table_name("wide_table_rows")
    con.execute(f"""
        CREATE TEMP TABLE {rows} AS
        SELECT
            raw.source_row,
            {city_key} AS city_key,
            {period} AS period,
            try_cast({year_text} AS INTEGER) AS year,
            nullif(concat_ws('; ', {", ".join(problems)}), '') AS row_problem{numbers}
        FROM {table.raw} AS raw
        {join}
    """)
    return rows


def _values_table(
    con: duckdb.DuckDBPyConnection, rows: str, spec: Mapping, measures: list[str], per_indicator: list[list[str]]
) -> str:
    """Temp table the value expressions run over: the rows as they are, or (aggregate: sum) their
    sums per city and year, with row_count, `empty_<i>` (rows with an empty cell in measure i) and
    `periods_<k>` (periods in which every column indicator k names had a value)."""
    table = new_table_name("wide_table_values")
    if not spec.aggregate:
        empties = "".join(f", ({sql_identifier(c)} IS NULL)::INTEGER AS empty_{i}" for i, c in enumerate(measures))
        periods = "".join(f", 1 AS periods_{k}" for k in range(len(per_indicator)))
        con.execute(f"CREATE TEMP TABLE {table} AS SELECT *, 1 AS row_count{empties}{periods} FROM {rows}")
        return table
    sums = "".join(
        f", sum({sql_identifier(c)}) AS {sql_identifier(c)}, count(*) - count({sql_identifier(c)}) AS empty_{i}"
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
            city_key, year,
            min(source_row) AS source_row,
            count(*) AS row_count,
            nullif(string_agg(DISTINCT row_problem, '; ' ORDER BY row_problem), '') AS row_problem{sums}{periods}
        FROM {rows}
        GROUP BY city_key, year
    """)
    return table


def _indicator_sql(
    values: str, k: int, indicator: IndicatorMapping, columns: list[str], measures: list[str],
    spec: Mapping, payload: LandedPayload,
) -> str:
    """Indicator source rows of one mapped indicator: its value expression over the values table."""
    value = f"({indicator.value})"
    empty = [f"CASE WHEN empty_{measures.index(c)} > 0 THEN {sql_literal(c)} END" for c in columns]
    empty_columns = f"nullif(concat_ws(', ', {', '.join(empty) or 'NULL'}), '')"
    problems = ["row_problem"]
    notes = [sql_literal(indicator.note) if indicator.note else "NULL"]
    if spec.aggregate:
        notes.append(
            f"CASE WHEN {value} IS NOT NULL AND {empty_columns} IS NOT NULL THEN "
            f"'sum of ' || row_count || ' rows; some cells empty (not reported) in ' || {empty_columns} END"
        )
        problems.append(
            f"CASE WHEN {value} IS NULL AND row_problem IS NULL AND {empty_columns} IS NOT NULL THEN "
            f"'no value: ' || {empty_columns} || ' empty (not reported) in every row summed' END"
        )
        if spec.require_periods_per_year:
            need = spec.require_periods_per_year
            incomplete = (
                f"CASE WHEN periods_{k} < {need} THEN year || ' has ' || periods_{k} || "
                + sql_literal(f" of {need} periods with a value in {', '.join(columns) or 'the table'}"
                              f" (require_periods_per_year: {need})")
                + " END"
            )
            (problems if spec.incomplete_years == "quarantine" else notes).append(incomplete)
    else:
        problems.append(
            f"CASE WHEN {value} IS NULL AND row_problem IS NULL AND {empty_columns} IS NOT NULL THEN "
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
        nullif(concat_ws('; ', {', '.join(problems)}), '') AS row_error
    FROM {values}
    """


def source_rows(
    con: duckdb.DuckDBPyConnection, payloads: list[LandedPayload], feed: Feed, interval: Interval
) -> str:
    """Landed tables → name of a temp table of indicator source rows (before cities and units)."""
    spec = mapping(feed)
    years_payloads = [p for p in payloads if _is_years_payload(p, spec, feed, interval)]
    years = _years_table(con, years_payloads, spec, feed) if spec.years_file else None
    selects = []
    for payload in [p for p in payloads if p not in years_payloads]:
        table = _Table(con, payload, spec, feed)
        per_indicator = [
            [
                table.column(name, f"indicator {indicator.indicator_code} (value {indicator.value!r})")
                for name in referenced_columns(con, indicator.value, feed, indicator.indicator_code)
            ]
            for indicator in spec.indicators
        ]
        measures = list(dict.fromkeys(c for columns in per_indicator for c in columns))
        values = _values_table(con, _rows_table(table, years, measures), spec, measures, per_indicator)
        for k, (indicator, columns) in enumerate(zip(spec.indicators, per_indicator, strict=True)):
            sql = _indicator_sql(values, k, indicator, columns, measures, spec, payload)
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
    columns = ", ".join(name for name, _ in INDICATOR_SOURCE_ROW_COLUMNS)
    con.execute(
        f"CREATE TEMP TABLE {result} AS SELECT {columns} FROM ("
        + " UNION ALL ".join(selects or [empty_indicator_rows_sql()])
        + ")"
    )
    return result


def parse(
    con: duckdb.DuckDBPyConnection, payloads: list[LandedPayload], feed: Feed, interval: Interval
) -> duckdb.DuckDBPyRelation:
    """Landed wide tables → parsed indicator observations for the interval's years."""
    return finish_indicator_rows(con, source_rows(con, payloads, feed, interval), feed, interval)
