"""SDMX-CSV files (statistical agencies' exports: OECD, Eurostat, ILO, ...) → indicator observations.

Both versions of the format are read:
- SDMX-CSV 1.0: the first column is `DATAFLOW` (e.g. `ESTAT:NA_MAIN(1.6.0)`);
- SDMX-CSV 2.0: `STRUCTURE` (or `STRUCTURE[;]`, naming the sub-field separator), `STRUCTURE_ID`
  and `ACTION` columns (the OECD API leaves out `STRUCTURE` and adds `STRUCTURE_NAME`).
Then one column per dimension (`REF_AREA`, `MEASURE`, `TIME_PERIOD`, ...), one or more measures
(`OBS_VALUE`, or `OBS_VALUE1`, `OBS_VALUE2`, ...) and attributes (`UNIT_MEASURE`, `UNIT_MULT`,
`OBS_STATUS`, `ATTR[]` multi-valued, `ATTR[en;fr]` localised, ...).

The field separator is the character after the first header term (`STRUCTURE;` is a semicolon
file, whose numbers may carry a decimal comma: `12,4`). Label columns interleaved with the code
columns (`labels=name`) are ignored; `ID: Name` headers and `code: label` cells (`labels=both`) are
read by their code. Quoted cells may hold separators and line breaks. `UNIT_MULT` multiplies the
value by 10^UNIT_MULT; `NaN` or empty `OBS_VALUE` is a row error (quarantined with its `OBS_STATUS`).

What the file's rows mean is checked against the SDMX-CSV field guide before any figure, and each
finding is a notice (citypeers.feeds.notices) with a code of docs/feed_validation.md: SDMX has no
validator vocabulary for CSV, so the codes are citypeers' own, in the MobilityData style.
ACTION is applied within the file, in file order: `D` removes the observations of earlier rows it
matches (empty dimensions are wildcards), `A`/`R` replace an earlier row of the same key, `I` (or no
ACTION column) only adds. A file is one delivery of its period: a deletion never reaches data
published from another period or file.

The sdmx1 package's SDMX-CSV reader was considered: it reads SDMX-CSV 2.x only (no 1.0), needs the
data structure definition, splits the text into lines before parsing (so a quoted line break breaks
a row) and keeps one measure per row, so DuckDB reads the file (`read_csv`, every column as text)
and the mapping below is plain SQL.

The mapping is declared per feed in feeds.yml `options` (column names are SDMX ids, case-sensitive):

    options:
      city_dimension: REF_AREA         # the city key (mapped by the feed's `cities:`, or a city id/name);
                                       # default REF_AREA, or every row is the feed's `city_id` if set
      time_dimension: TIME_PERIOD      # 2024, 2024-S1, 2024-Q1, 2024-03, 2024-W05, 2024-03-31
      unit_column: UNIT_MEASURE        # default; its codes map to pint units through `units:`
      units: {PT_POP: percent, L_PER_CAP_DAY: L / resident / day}
      series:                          # first match per measure wins; rows matching no series are skipped
        - {filter: {MEASURE: TOTTR, FREQ: A}, indicator_code: wastewater_treated_share, unit: percent}
        - {filter: {MEASURE: [NRW, NRW_EST]}, indicator_code: non_revenue_water_share}
        - {filter: {STRUCTURE_ID: "ESTAT:NA_MAIN(1.6.0)"}, measure: OBS_VALUE2, indicator_code: ...}
        - {filter: {FREQ: M}, annual: mean, indicator_code: ...}

`measure` names the series' measure column (default OBS_VALUE). A `FREQ` filter on a file without
a FREQ column filters on the frequency the time period is written in (2024 is A, 2024-03 is M).
Sub-annual observations become one annual figure only when the series says how (`annual`: mean,
sum, first or last of the year's periods); a year missing some of its periods is published flagged.

A file without any measure column is not a file of observations: the feed fails (FeedError).

A `location` that is an http(s) URL is an SDMX REST data query (OECD Data Explorer or Eurostat
syntax, citypeers.feeds.sdmx_rest): the data interval becomes startPeriod / endPeriod, SDMX-CSV is
asked for (`options.format`), and the answer is landed and read exactly as a file would be.
"""

from __future__ import annotations

import re
from typing import Any

import duckdb

from citypeers.errors import FeedError
from citypeers.feeds import (
    empty_indicator_rows_sql,
    finish_indicator_rows,
    http,
    new_table_name,
    sdmx_rest,
    sql_identifier,
    sql_literal,
)
from citypeers.feeds.files import fetch_files
from citypeers.feeds.notices import Notices
from citypeers.feeds.payloads import LandedPayload, Payload
from citypeers.intervals import Interval
from citypeers.registry import Feed

OPTIONS_HELP = ("see docs/adding_feeds.md (sdmx_csv options: city_dimension, time_dimension, series with "
                "filter, measure, annual; units)")
# The first header term, an optional sub-field separator in brackets, an optional label, the field separator.
_HEADER = re.compile(r'^\ufeff?"?(?P<term>DATAFLOW|STRUCTURE_ID|STRUCTURE)(?:\[(?P<sub>.)\])?(?:: [^,;|\t"]*)?"?'
                     r"(?P<delimiter>[,;|\t])")
# A component column: its SDMX id, `[]` (multi-valued) or `[en;fr]` (localised), `: Label` (labels=both).
_COLUMN = re.compile(r"^(?P<id>[A-Za-z][A-Za-z0-9_@.\-]*)(?P<brackets>\[[^\]]*\])?(?:: (?P<label>.*))?$")
_TECHNICAL = ("DATAFLOW", "STRUCTURE", "STRUCTURE_ID", "STRUCTURE_NAME", "ACTION", "SERIES_KEY", "OBS_KEY")
_MEASURE = re.compile(r"^OBS_VALUE\d*$")
# Attributes SDMX's cross-domain concepts define: a D row's value in them marks it for deletion, it
# does not narrow which observations the row matches (the data structure is not at hand to tell).
_KNOWN_ATTRIBUTES = ("UNIT_MEASURE", "UNIT_MULT", "OBS_STATUS", "OBS_CONF", "OBS_PRE_BREAK", "OBS_COMMENT",
                     "COMMENT_OBS", "COMMENT_TS", "DECIMALS", "BASE_PER", "TIME_FORMAT", "TITLE", "UPDATED")
_ANNUAL = {"mean": "avg(value)", "sum": "sum(value)", "first": "arg_min(value, time_period)",
           "last": "arg_max(value, time_period)"}
_ACTIONS = ("I", "A", "R", "D", "M")
# The frequency a time period is written in (SDMX reporting periods), and how many a year holds.
_FREQUENCY_SQL = r"""CASE
    WHEN regexp_full_match({p}, '\d{{4}}(-A1)?') THEN 'A'
    WHEN regexp_full_match({p}, '\d{{4}}-S[12]') THEN 'S'
    WHEN regexp_full_match({p}, '\d{{4}}-Q[1-4]') THEN 'Q'
    WHEN regexp_full_match({p}, '\d{{4}}-M?(0[1-9]|1[0-2])') THEN 'M'
    WHEN regexp_full_match({p}, '\d{{4}}-W(0[1-9]|[1-4]\d|5[0-3])') THEN 'W'
    WHEN regexp_full_match({p}, '\d{{4}}-\d{{2}}-\d{{2}}') AND try_cast({p} AS DATE) IS NOT NULL THEN 'D' END"""
_PERIODS_PER_YEAR_SQL = """CASE {f} WHEN 'S' THEN 2 WHEN 'Q' THEN 4 WHEN 'M' THEN 12
    WHEN 'W' THEN date_part('week', make_date({y}, 12, 28))
    WHEN 'D' THEN datediff('day', make_date({y}, 1, 1), make_date({y} + 1, 1, 1)) END"""


def fetch(feed: Feed, interval: Interval) -> list[Payload]:
    """An http(s) location is an SDMX REST data query (citypeers.feeds.sdmx_rest): the interval's
    periods asked for as SDMX-CSV, one payload, or none when the service has no results for the
    period (an empty period, logged). Else every SDMX-CSV file matching the location glob for the
    interval's years."""
    if not http.is_url(feed.location):
        return fetch_files(feed, interval)
    url, params = sdmx_rest.query(feed, interval)
    try:
        return [http.get(feed, interval, url, expect="csv", params=params, suffix=".csv")]
    except FeedError as error:
        answer = sdmx_rest.rejected_answer(error)
        if answer is None:
            raise
        status, body, content_type, kept = answer
        request = http.request_key(url, params=params)
        if sdmx_rest.is_no_results(status, sdmx_rest.service_message(body, content_type)):
            sdmx_rest.no_results(feed, interval, request, status, body, content_type)
            return []
        raise sdmx_rest.rejected(feed, request, status, body, content_type, kept) from error


class _Columns:
    """An SDMX-CSV header: SDMX id → its column (quoted for SQL), and what the header says of it:
    `ID: Name` (labels=both), `ID[]` (multi-valued), `ID[en;fr]` (localised). Label columns
    (labels=name) have names that are not ids; they are never looked up."""

    def __init__(self, names: list[str]):
        self.names = names
        self.by_id: dict[str, str] = {}
        self.labelled: list[str] = []
        self.multi_valued: list[str] = []
        self.localised: dict[str, str] = {}
        for name in names:
            match = _COLUMN.match(name.strip())
            if not match or match["id"] in self.by_id:
                continue
            sdmx_id, brackets = match["id"], match["brackets"]
            self.by_id[sdmx_id] = sql_identifier(name)
            if sdmx_id in _TECHNICAL:
                continue
            if match["label"] is not None:
                self.labelled.append(sdmx_id)
            if brackets == "[]":
                self.multi_valued.append(sdmx_id)
            elif brackets:
                self.localised[sdmx_id] = brackets[1:-1]

    def __contains__(self, sdmx_id: str) -> bool:
        return sdmx_id in self.by_id

    def code(self, sdmx_id: str) -> str:
        """SQL for the column's code: trimmed, without a `: label` part, NULL when empty."""
        return f"nullif(trim(split_part({self.by_id[sdmx_id]}, ': ', 1)), '')"

    def raw(self, sdmx_id: str) -> str:
        return self.by_id[sdmx_id]


class _File:
    """One landed file: how it is written (version, separators) and its rows as a temp table."""

    def __init__(self, con: duckdb.DuckDBPyConnection, payload: LandedPayload, feed: Feed):
        self.payload = payload
        self.label = payload.request
        self.where = f"{payload.request} (landed as {payload.path})"
        with payload.path.open("rb") as handle:
            first_line = handle.readline(1 << 16).decode("utf-8", errors="replace")
        header = _HEADER.match(first_line)
        self.delimiter = header["delimiter"] if header else ","
        self.sub_separator = header["sub"] if header else None
        read = (f"read_csv({sql_literal(str(payload.path))}, header = true, all_varchar = true, "
                f"delim = {sql_literal(self.delimiter)}, quote = '\"', escape = '\"')")
        try:
            self.columns = _Columns(con.sql(f"SELECT * FROM {read} LIMIT 0").columns)
        except duckdb.Error as exc:
            raise FeedError(feed.feed_id, f"cannot read the SDMX-CSV file: {exc}", where=self.where,
                            action="export the data again as SDMX-CSV (UTF-8, header row), then rerun") from exc
        names = self.columns.names
        if names and names[0].split(":", 1)[0].strip().lstrip("\ufeff") == "DATAFLOW":
            self.version, self.structure_column = "1.0", "DATAFLOW"
        elif "STRUCTURE_ID" in self.columns:
            self.version, self.structure_column = "2.0", "STRUCTURE_ID"
        else:
            raise FeedError(feed.feed_id, "not SDMX-CSV: the first column is not DATAFLOW (SDMX-CSV 1.0) and there "
                            f"is no STRUCTURE_ID column (2.0); columns: {', '.join(names[:8])}", where=self.where,
                            action="export the dataset as SDMX-CSV (the agency's 'CSV with labels' or SDMX-CSV option)")
        # Each record's first line in the file (the header is line 1): quoted line breaks shift the lines.
        breaks = " + ".join(f"length(coalesce({column}, '')) - length(replace(coalesce({column}, ''), chr(10), ''))"
                            for column in map(sql_identifier, names)) or "0"
        self.table = new_table_name("sdmx_csv_file")
        con.execute(f"""
        CREATE TEMP TABLE {self.table} AS
        SELECT *, record_number + 1 + coalesce(sum(line_breaks) OVER (
                ORDER BY record_number ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS csv_line
        FROM (SELECT *, row_number() OVER () AS record_number, {breaks} AS line_breaks FROM {read})
        """)

    def value(self, code: str) -> str:
        """SQL for a measure cell's code as a number: a decimal comma is read in files whose field
        separator is not a comma (the SDMX-CSV localised layout)."""
        if self.delimiter == ",":
            return f"try_cast({code} AS DOUBLE)"
        return f"try_cast(CASE WHEN regexp_full_match({code}, '-?\\d*,\\d+') THEN replace({code}, ',', '.') " \
               f"ELSE {code} END AS DOUBLE)"


def _series(feed: Feed) -> list[dict[str, Any]]:
    series = feed.options.get("series")
    if not isinstance(series, list) or not series:
        raise FeedError(feed.feed_id, "options.series is missing or empty: nothing says which SDMX series "
                        "is which indicator", where="feeds.yml", action=OPTIONS_HELP)
    for number, entry in enumerate(series, start=1):
        if not isinstance(entry, dict) or not entry.get("indicator_code") or not isinstance(
            entry.get("filter", {}), dict
        ):
            raise FeedError(feed.feed_id, f"options.series entry {number} needs indicator_code and a filter "
                            "mapping (dimension id: code or list of codes)", where="feeds.yml", action=OPTIONS_HELP)
        if entry.get("annual") is not None and entry["annual"] not in _ANNUAL:
            raise FeedError(feed.feed_id, f"options.series entry {number}: annual {entry['annual']!r} is not one "
                            f"of {', '.join(_ANNUAL)}", where="feeds.yml", action=OPTIONS_HELP)
    return series


def _codes(codes: Any) -> list[str]:
    """A filter's code or list of codes (YAML may read a code such as 2024 as a number)."""
    return [str(code) for code in (codes if isinstance(codes, list) else [codes])]


def _need(file: _File, sdmx_id: str, what: str, feed: Feed) -> None:
    if sdmx_id not in file.columns:
        ids = ", ".join(file.columns.by_id)
        raise FeedError(feed.feed_id, f"{what} column {sdmx_id} is not in the file (SDMX ids in it: {ids})",
                        where=file.where, action=f"fix the feed's options in feeds.yml; {OPTIONS_HELP}")


class _Mapping:
    """The feed's options read against one file's columns: SQL for each part of an observation."""

    def __init__(self, file: _File, feed: Feed):
        columns, options = file.columns, feed.options
        self.series = _series(feed)
        self.city_dimension = options.get("city_dimension") or (None if feed.city_id else "REF_AREA")
        if self.city_dimension:
            _need(file, self.city_dimension, "city_dimension", feed)
        self.time_dimension = options.get("time_dimension", "TIME_PERIOD")
        _need(file, self.time_dimension, "time_dimension", feed)
        self.unit_column = options.get("unit_column", "UNIT_MEASURE")
        self.units = {str(code): str(unit) for code, unit in (options.get("units") or {}).items()}
        self.measures = list(dict.fromkeys(str(entry.get("measure") or "OBS_VALUE") for entry in self.series))
        present = [measure for measure in self.measures if measure in columns]
        if not present:
            raise FeedError(feed.feed_id, f"SDMX-CSV {file.version} file has no {' or '.join(self.measures)} column, "
                            f"so it holds no observations (columns: {', '.join(columns.names)})", where=file.where,
                            action="export observations (data, not structure or series attributes only) "
                            f"with the {self.measures[0]} column, then rerun this interval")
        for measure in self.measures:
            _need(file, measure, "series measure", feed)
        self.period = columns.code(self.time_dimension)
        self.frequency = _FREQUENCY_SQL.format(p=self.period)
        self.filter_ids = list(dict.fromkeys(key for entry in self.series for key in entry.get("filter", {})))
        for sdmx_id in self.filter_ids:
            if not (sdmx_id == "FREQ" and "FREQ" not in columns):
                _need(file, sdmx_id, "series filter", feed)
        self.key_ids = [i for i in [self.city_dimension, self.time_dimension] if i]
        self.file_measures = [i for i in columns.by_id if _MEASURE.match(i) or i in self.measures]
        self.read_attributes = [i for i in (self.unit_column, "UNIT_MULT", "OBS_STATUS") if i in columns]

    def match_sql(self, file: _File, measure: str) -> str:
        """CASE giving the number of the first series of `measure` that a row matches."""
        whens = []
        for number, entry in enumerate(self.series, start=1):
            if str(entry.get("measure") or "OBS_VALUE") != measure:
                continue
            conditions = [
                f"{self.frequency if key == 'FREQ' and key not in file.columns else file.columns.code(key)} "
                f"IN ({', '.join(sql_literal(code) for code in _codes(codes))})"
                for key, codes in entry.get("filter", {}).items()
            ] or ["true"]
            whens.append(f"WHEN {' AND '.join(conditions)} THEN {number}")
        return f"CASE {' '.join(whens)} END" if whens else "NULL::INTEGER"

    def series_key_sql(self, file: _File) -> str:
        parts = [file.columns.code(self.city_dimension)] if self.city_dimension else []
        parts += [file.columns.code(i) for i in self.filter_ids if i != self.city_dimension and i in file.columns]
        return f"concat_ws('.', {', '.join(parts)})" if parts else "''"


def _header_notices(file: _File, mapping: _Mapping, notices: Notices) -> None:
    """What the header alone shows: labels, multi-valued and localised components."""
    columns = file.columns
    for sdmx_id in columns.labelled[:1]:
        notices.add(file.label, "code_with_label", "warning", f"'ID: Name' headers (labels=both): {sdmx_id} and the "
                    "other labelled columns are read by the code before ': ', the labels are dropped",
                    row=1, field=sdmx_id)
    for sdmx_id in columns.multi_valued:
        read = sdmx_id in mapping.read_attributes
        notices.add(file.label, "multi_valued_attribute", "warning",
                    f"{sdmx_id}[] may hold several values separated by "
                    f"{file.sub_separator or '(no separator declared)'}"
                    + ("; a row with several is left out (one unit, multiplier or status per figure)" if read else
                       "; not read by any figure"), row=1, field=sdmx_id)
    for sdmx_id, languages in columns.localised.items():
        notices.add(file.label, "localised_attribute", "warning",
                    f"{sdmx_id}[{languages}] holds one text per language; not read by any figure", row=1, field=sdmx_id)


def _row_checks(con: duckdb.DuckDBPyConnection, file: _File, mapping: _Mapping, notices: Notices) -> None:
    """Rows the field guide allows that hold no figure (attribute rows), and cells with line breaks."""
    columns, table = file.columns, file.table
    action = columns.code("ACTION") if "ACTION" in columns else "NULL"
    no_measure = " AND ".join(f"{columns.code(m)} IS NULL" for m in mapping.file_measures)
    partial = " OR ".join(f"{columns.code(i)} IS NULL" for i in mapping.key_ids + [
        i for i in mapping.filter_ids if i in columns])
    notices.add_rows(con.sql(f"""
        SELECT {sql_literal(file.label)}, csv_line, coalesce({', '.join(
            f"CASE WHEN {columns.code(i)} IS NULL THEN {sql_literal(i)} END" for i in mapping.key_ids)}),
            'attribute_only_row', 'notice',
            'a row without any measure value for a partial key (' || concat_ws(', ', {', '.join(
                f"CASE WHEN {columns.code(i)} IS NULL THEN {sql_literal(i)} END" for i in mapping.key_ids)}) ||
            ' empty): attributes attached to a series or group, no figure; not read'
        FROM {table}
        WHERE {no_measure} AND ({partial}) AND coalesce(upper({action}), 'I') <> 'D'
        ORDER BY csv_line
    """).fetchall())
    read = set(mapping.key_ids + mapping.filter_ids + mapping.file_measures + mapping.read_attributes
               + [file.structure_column, "ACTION"])
    checks = [f"SELECT csv_line, {sql_literal(i)} AS field, {str(i in read).lower()} AS is_read FROM {table} "
              f"WHERE strpos({columns.raw(i)}, chr(10)) > 0 OR strpos({columns.raw(i)}, chr(13)) > 0"
              for i in columns.by_id]
    for line, field, is_read in con.sql(" UNION ALL ".join(checks) + " ORDER BY csv_line, field").fetchall():
        if is_read:
            notices.add(file.label, "new_line_in_value", "flagged", f"a line break inside {field}, a code or number "
                        "the figures read: the row is left out", row=line, field=field)
        else:
            notices.add(file.label, "new_line_in_value", "warning", f"a line break inside the quoted {field} "
                        "(allowed for texts); rows are counted from the line each record starts on",
                        row=line, field=field)


def _observations_table(con: duckdb.DuckDBPyConnection, file: _File, mapping: _Mapping) -> str:
    """One row per (file row, measure) that matches a series and is not a D row, with what ACTION
    did to it (`deleted_by`: the D row's line) and its row error."""
    columns, table = file.columns, file.table
    action = f"upper({columns.code('ACTION')})" if "ACTION" in columns else "NULL::VARCHAR"
    structure = columns.code(file.structure_column)
    unit_code = columns.code(mapping.unit_column) if mapping.unit_column in columns else "NULL::VARCHAR"
    status = columns.code("OBS_STATUS") if "OBS_STATUS" in columns else "NULL::VARCHAR"
    multiplier = (f"power(10, coalesce(try_cast({columns.code('UNIT_MULT')} AS INTEGER), 0))"
                  if "UNIT_MULT" in columns else "1")
    compared = [i for i in columns.by_id if i not in _TECHNICAL[2:] and i not in mapping.file_measures
                and i not in (*_KNOWN_ATTRIBUTES, *mapping.read_attributes, *columns.multi_valued, *columns.localised)]
    same_key = " AND ".join(
        f"({_on('d', columns, i)} IS NULL OR {_on('d', columns, i)} = {_on('r', columns, i)})" for i in compared)
    d_no_measure = " AND ".join(f"{_on('d', columns, m)} IS NULL" for m in mapping.file_measures)
    new_line = [i for i in set(mapping.key_ids + mapping.filter_ids + mapping.read_attributes
                               + [file.structure_column]) if i in columns]
    several = [i for i in mapping.read_attributes if i in columns.multi_valued and file.sub_separator]
    selects = []
    for measure in mapping.measures:
        if measure not in columns:
            continue
        deleted_by = (f"(SELECT min(d.csv_line) FROM {table} AS d WHERE upper({_on('d', columns, 'ACTION')}) = 'D' "
                      f"AND d.csv_line > r.csv_line AND {same_key or 'true'} "
                      f"AND (({d_no_measure}) OR {_on('d', columns, measure)} IS NOT NULL))"
                      if "ACTION" in columns else "NULL::BIGINT")
        value_code = columns.code(measure)
        selects.append(f"""
        SELECT
            csv_line,
            {mapping.match_sql(file, measure)} AS series_number,
            {sql_literal(measure)} AS measure,
            {structure} AS structure,
            {columns.code(mapping.city_dimension) if mapping.city_dimension else 'NULL::VARCHAR'} AS city_key,
            {mapping.series_key_sql(file)} AS series_key,
            {mapping.period} AS time_period,
            {mapping.frequency} AS frequency,
            {value_code} AS obs_text,
            {file.value(value_code)} AS parsed_value,
            {unit_code} AS unit_code,
            {status} AS obs_status,
            coalesce({action}, 'I') AS row_action,
            {multiplier} AS multiplier,
            {deleted_by} AS deleted_by,
            nullif(concat_ws('; ',
                {' '.join(f"CASE WHEN strpos({columns.raw(i)}, chr(10)) + strpos({columns.raw(i)}, chr(13)) > 0 "
                          f"THEN 'new_line_in_value: a line break inside {i}' END," for i in new_line)}
                {' '.join(f"CASE WHEN strpos({columns.raw(i)}, {sql_literal(file.sub_separator)}) > 0 "
                          f"THEN 'multi_valued_attribute: several values in {i}' END," for i in several)}
                CASE WHEN {action} IS NOT NULL AND {action} NOT IN ({', '.join(map(sql_literal, _ACTIONS))})
                     THEN 'unexpected_enum_value: ACTION ' || {action} || ' is not I, A, R, D or M' END,
                CASE WHEN {value_code} IS NOT NULL AND ({' OR '.join(
                    f"{columns.code(i)} IS NULL" for i in mapping.key_ids)})
                     THEN 'partial_key: ' || concat_ws(', ', {', '.join(
                         f"CASE WHEN {columns.code(i)} IS NULL THEN {sql_literal(i)} END" for i in mapping.key_ids)})
                          || ' empty in a row with a {measure} value: which observation it is cannot be told' END
            ), '') AS check_error
        FROM {table} AS r
        WHERE coalesce({action}, 'I') <> 'D'
        """)
    observations = new_table_name("sdmx_csv_observations")
    con.execute(f"CREATE TEMP TABLE {observations} AS SELECT * FROM ({' UNION ALL '.join(selects)}) "
                "WHERE series_number IS NOT NULL")
    return observations


def _on(alias: str, columns: _Columns, sdmx_id: str) -> str:
    """A column's code, read from the row called `alias`."""
    return f"nullif(trim(split_part({alias}.{columns.raw(sdmx_id)}, ': ', 1)), '')"


def _action_notices(con: duckdb.DuckDBPyConnection, file: _File, observations: str, notices: Notices) -> None:
    """What each D row removed from this file, and which rows a later A/R row of the same key replaced."""
    if "ACTION" not in file.columns:
        return
    deletes = con.sql(f"""
        SELECT d.csv_line, list(DISTINCT o.csv_line ORDER BY o.csv_line) FILTER (WHERE o.csv_line IS NOT NULL)
        FROM {file.table} AS d LEFT JOIN {observations} AS o ON o.deleted_by = d.csv_line
        WHERE upper({_on('d', file.columns, 'ACTION')}) = 'D'
        GROUP BY d.csv_line ORDER BY d.csv_line
    """).fetchall()
    for line, removed in deletes:
        if removed:
            notices.add(file.label, "action_delete", "notice", f"ACTION D removes the observations of row(s) "
                        f"{', '.join(map(str, removed))} of this file, which are not published; data published "
                        "from other periods or files is not touched", row=line, field="ACTION")
        else:
            notices.add(file.label, "action_delete", "warning", "ACTION D matches no observation earlier in this "
                        "file: nothing is removed (data published from other periods or files is not touched; "
                        "deliver that period again without the figure)", row=line, field="ACTION")


def _keyed_table(con: duckdb.DuckDBPyConnection, observations: str) -> str:
    """The observations no D row removed, each with what the other rows of its key make of it:
    `replaced_by` (a later A/R/M row of the same key) or `duplicates` (rows of the key, all I)."""
    keyed = new_table_name("sdmx_csv_keyed")
    con.execute(f"""
    CREATE TEMP TABLE {keyed} AS
    SELECT *,
        CASE WHEN last_action IN ('A', 'R', 'M') AND csv_line < last_line THEN last_line END AS replaced_by,
        CASE WHEN key_rows > 1 AND last_action NOT IN ('A', 'R', 'M') THEN key_rows END AS duplicates
    FROM (
        SELECT *,
            count(*) OVER key_rows AS key_rows,
            max(csv_line) OVER key_rows AS last_line,
            arg_max(row_action, csv_line) OVER key_rows AS last_action
        FROM {observations}
        WHERE deleted_by IS NULL
        WINDOW key_rows AS (PARTITION BY series_number, structure, series_key, time_period)
    )
    """)
    return keyed


def _key_notices(con: duckdb.DuckDBPyConnection, file: _File, mapping: _Mapping, keyed: str,
                 notices: Notices) -> None:
    label, period_field = sql_literal(file.label), sql_literal(mapping.time_dimension)
    notices.add_rows(con.sql(f"""
        SELECT {label}, csv_line, 'ACTION', 'replaced_observation', 'notice',
            'replaced by row ' || replaced_by || ' (ACTION ' || last_action
                || ') of the same key: that row is published'
        FROM {keyed} WHERE replaced_by IS NOT NULL
        UNION ALL
        SELECT {label}, csv_line, {period_field}, 'duplicate_key', 'flagged',
            duplicates || ' rows give ' || series_key || ' ' || coalesce(time_period, '') || ' of series '
            || series_number || ' (no A/R row replaces the others): every row of the key is left out'
        FROM {keyed} WHERE duplicates IS NOT NULL
        UNION ALL
        SELECT {label}, csv_line, NULL, regexp_extract(check_error, '^([a-z_]+):', 1), 'flagged',
            check_error || ': the row is left out'
        FROM {keyed} WHERE regexp_matches(check_error, '^(partial_key|multi_valued_attribute|unexpected_enum_value):')
        ORDER BY 2
    """).fetchall())
    structure_field = file.structure_column
    for number, line, other in con.sql(f"""
        SELECT series_number, min(csv_line) FILTER (WHERE structure <> first_structure),
            list(DISTINCT structure ORDER BY structure)
        FROM (SELECT *, first_value(structure) OVER (PARTITION BY series_number ORDER BY csv_line) AS first_structure
              FROM {keyed} WHERE replaced_by IS NULL)
        GROUP BY series_number HAVING count(DISTINCT structure) > 1 ORDER BY series_number
    """).fetchall():
        notices.add(file.label, "multiple_structures", "error", f"series {number} of options.series matches rows of "
                    f"{', '.join(other)}: figures of different structures (dataflows, versions) would be mixed; add "
                    f"{structure_field} to the series' filter", row=line, field=structure_field)
    if not notices.of_severity("error"):
        several = con.sql(f"""
            SELECT min(csv_line) FILTER (WHERE s <> first_s), list(DISTINCT s ORDER BY s) FROM (
                SELECT csv_line, {file.columns.code(structure_field)} AS s,
                    first_value({file.columns.code(structure_field)}) OVER (ORDER BY csv_line) AS first_s
                FROM {file.table})
            HAVING count(DISTINCT s) > 1
        """).fetchone()
        if several:
            notices.add(file.label, "multiple_structures", "notice", f"the file holds data of {', '.join(several[1])}; "
                        "no series mixes them", row=several[0], field=structure_field)


def _year_notices(con: duckdb.DuckDBPyConnection, file: _File, mapping: _Mapping, keyed: str,
                  notices: Notices) -> None:
    """Sub-annual observations of a series that does not say how a year is made of them fail it."""
    sub_annual = [number for number, entry in enumerate(mapping.series, start=1) if not entry.get("annual")]
    if not sub_annual:
        return
    notices.add_rows(con.sql(f"""
        SELECT {sql_literal(file.label)}, min(csv_line), {sql_literal(mapping.time_dimension)}, 'sub_annual_period',
            'error', 'series ' || series_number || ' of options.series gets ' || count(*) || ' observations of '
            || 'frequency ' || any_value(frequency) || ' (' || min(time_period) || ' ...): one annual figure cannot be '
            || 'chosen from them; set annual: mean, sum, first or last on the series, or filter FREQ: A'
        FROM {keyed}
        WHERE frequency <> 'A' AND series_number IN ({', '.join(map(str, sub_annual))})
            AND replaced_by IS NULL AND duplicates IS NULL AND check_error IS NULL
        GROUP BY series_number, frequency ORDER BY 2
    """).fetchall())


def _rows_sql(file: _File, mapping: _Mapping, keyed: str) -> str:
    """Indicator source rows (with `left_out_share`): annual observations one by one, sub-annual
    ones of a series with `annual` folded into their year."""
    payload = file.payload
    series_sql = ", ".join(
        f"({number}, {sql_literal(str(entry['indicator_code']))}, {sql_literal(entry.get('unit'))}, "
        f"{sql_literal(entry.get('annual'))})" for number, entry in enumerate(mapping.series, start=1))
    units_sql = ", ".join(f"({sql_literal(code)}, {sql_literal(unit)})" for code, unit in sorted(mapping.units.items()))
    units = (f"(VALUES {units_sql}) AS units(unit_code, unit)" if units_sql else
             "(SELECT NULL::VARCHAR AS unit_code, NULL::VARCHAR AS unit LIMIT 0) AS units")
    version, where = sql_literal(f"SDMX-CSV {file.version}"), sql_literal(payload.request)
    time_dimension, unit_column = sql_literal(mapping.time_dimension), sql_literal(mapping.unit_column)
    return f"""
    WITH observations AS (
        SELECT keyed.*, series.indicator_code, series.annual,
            coalesce(series.unit, units.unit) AS source_unit,
            try_cast(regexp_extract(time_period, '^(\\d{{4}})', 1) AS INTEGER) AS year,
            CASE WHEN lower(obs_text) <> 'nan' THEN parsed_value * multiplier END AS value,
            nullif(concat_ws('; ',
                check_error,
                CASE WHEN duplicates IS NOT NULL THEN 'duplicate_key: ' || duplicates || ' rows give this key' END,
                CASE WHEN obs_text IS NULL OR lower(obs_text) = 'nan'
                     THEN 'empty ' || measure || coalesce(' (OBS_STATUS ' || obs_status || ')', '')
                     WHEN parsed_value IS NULL THEN measure || ' ''' || obs_text || ''' is not a number' END,
                CASE WHEN frequency IS NULL
                     THEN {time_dimension} || ' ' || coalesce('''' || time_period || '''', '(empty)')
                          || ' is not an SDMX period such as 2024, 2024-03 or 2024-Q1' END,
                CASE WHEN coalesce(series.unit, units.unit) IS NULL
                     THEN 'no unit: series ' || series_number || ' in options.series has no unit and '
                          || {unit_column} || ' ' || coalesce('''' || unit_code || '''', '(empty)')
                          || ' is not mapped under options.units' END
            ), '') AS row_error
        FROM {keyed} AS keyed
        JOIN (VALUES {series_sql}) AS series(series_number, indicator_code, unit, annual) USING (series_number)
        LEFT JOIN {units} USING (unit_code)
        WHERE replaced_by IS NULL
    ),
    years AS (
        SELECT series_number, any_value(indicator_code) AS indicator_code, any_value(annual) AS annual, structure,
            series_key, city_key, year, frequency, source_unit,
            CASE any_value(annual) WHEN 'mean' THEN avg(value) FILTER (WHERE row_error IS NULL)
                 WHEN 'sum' THEN sum(value) FILTER (WHERE row_error IS NULL)
                 WHEN 'first' THEN arg_min(value, time_period) FILTER (WHERE row_error IS NULL)
                 ELSE arg_max(value, time_period) FILTER (WHERE row_error IS NULL) END AS value,
            count(DISTINCT time_period) FILTER (WHERE row_error IS NULL) AS usable,
            {_PERIODS_PER_YEAR_SQL.format(f='frequency', y='year')} AS expected,
            min(time_period) AS first_period, max(time_period) AS last_period, min(csv_line) AS csv_line,
            string_agg(DISTINCT obs_status, ', ') FILTER (WHERE obs_status <> 'A') AS statuses,
            string_agg(time_period || ': ' || row_error, '; ' ORDER BY csv_line) FILTER (WHERE row_error IS NOT NULL)
                AS errors
        FROM observations
        WHERE annual IS NOT NULL AND frequency <> 'A' AND year IS NOT NULL
        GROUP BY ALL
    )
    SELECT city_key, indicator_code, year,
        value AS source_value, source_unit,
        concat_ws(' ', structure, series_key, time_period) || ' in ' || {where} AS source_ref,
        nullif(concat_ws('; ', {version}, CASE WHEN obs_status <> 'A' THEN 'OBS_STATUS ' || obs_status END), '')
            AS note,
        {sql_literal(payload.sha256)} AS payload_sha256, csv_line AS source_row, row_error,
        NULL::DOUBLE AS left_out_share
    FROM observations
    WHERE annual IS NULL OR frequency = 'A' OR frequency IS NULL OR year IS NULL
    UNION ALL
    SELECT city_key, indicator_code, year,
        CASE WHEN usable > 0 THEN value END, source_unit,
        concat_ws(' ', structure, series_key, year) || ' (' || annual || ' of ' || first_period || ' to '
            || last_period || ') in ' || {where},
        concat_ws('; ', {version}, 'annual ' || annual || ' of ' || usable || ' of ' || expected || ' periods',
            CASE WHEN statuses IS NOT NULL THEN 'OBS_STATUS ' || statuses END,
            CASE WHEN usable < expected THEN 'flagged, rows left out: ' || (expected - usable) || ' of ' || expected
                || ' periods missing or unusable (incomplete_year)' END),
        {sql_literal(payload.sha256)}, csv_line,
        CASE WHEN usable = 0 THEN 'no usable observation in the year: ' || errors END,
        CASE WHEN usable < expected THEN (expected - usable) / expected END
    FROM years
    """


def _incomplete_year_notices(con: duckdb.DuckDBPyConnection, file: _File, mapping: _Mapping, rows: str,
                             notices: Notices) -> None:
    notices.add_rows(con.sql(f"""
        SELECT {sql_literal(file.label)}, source_row, {sql_literal(mapping.time_dimension)}, 'incomplete_year',
            'flagged', indicator_code || ' ' || coalesce(city_key, '') || ' ' || year || ': '
            || regexp_extract(note, 'annual [a-z]+ of \\d+ of \\d+ periods') || ', published flagged (share '
            || round(left_out_share, 3) || ' of the year missing)'
        FROM {rows} WHERE left_out_share > 0 AND payload_sha256 = {sql_literal(file.payload.sha256)}
        ORDER BY source_row
    """).fetchall())


def _source_table(con: duckdb.DuckDBPyConnection, payloads: list[LandedPayload], feed: Feed,
                  notices: Notices) -> str:
    table = new_table_name("sdmx_csv_rows")
    con.execute(f"CREATE TEMP TABLE {table} AS SELECT *, NULL::DOUBLE AS left_out_share "
                f"FROM ({empty_indicator_rows_sql()})")
    for payload in payloads:
        file = _File(con, payload, feed)
        mapping = _Mapping(file, feed)
        _header_notices(file, mapping, notices)
        _row_checks(con, file, mapping, notices)
        observations = _observations_table(con, file, mapping)
        _action_notices(con, file, observations, notices)
        keyed = _keyed_table(con, observations)
        _key_notices(con, file, mapping, keyed, notices)
        _year_notices(con, file, mapping, keyed, notices)
        con.execute(f"INSERT INTO {table} {_rows_sql(file, mapping, keyed)}")
        _incomplete_year_notices(con, file, mapping, table, notices)
    notices.raise_for_errors(where="; ".join(payload.request for payload in payloads))
    return table


def source_rows(
    con: duckdb.DuckDBPyConnection, payloads: list[LandedPayload], feed: Feed, notices: Notices | None = None
) -> duckdb.DuckDBPyRelation:
    """The indicator source rows of the landed files (before city mapping and unit conversion)."""
    found = notices if notices is not None else Notices(feed.feed_id, "-")
    return con.sql(f"SELECT * FROM {_source_table(con, payloads, feed, found)} ORDER BY payload_sha256, source_row")


def parse(
    con: duckdb.DuckDBPyConnection, payloads: list[LandedPayload], feed: Feed, interval: Interval,
    notices: Notices | None = None,
) -> duckdb.DuckDBPyRelation:
    """Landed SDMX-CSV files → parsed indicator observations for the interval's years, after the
    checks of docs/feed_validation.md (an error fails the interval; flagged rows are quarantined with
    their code, or fold into a flagged annual figure). `source_row` is the CSV line the record starts
    on (the header being line 1)."""
    found = notices if notices is not None else Notices(feed.feed_id, interval.label)
    return finish_indicator_rows(con, _source_table(con, payloads, feed, found), feed, interval)
