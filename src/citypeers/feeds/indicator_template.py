"""The citypeers indicator template: a long CSV any city can fill in → parsed indicator observations.

One row per city, indicator and year (template: `feeds/templates/citypeers_indicator_template.csv`):

    city,indicator_code,period,value,unit,source,note
    valencia,msw_recycled_share,2024,31.5,%,Ajuntament de València waste report 2024,

- `city`: a city id or city name of `dbt_project/seeds/cities.csv`, or a key the feed maps under
  `cities:` in feeds.yml; `indicator_code`: a code of the catalogue (`dbt_project/seeds/indicators.csv`);
- `period`: the year (`2024`); `value`: a number with `.` as decimal mark;
- `unit`: any unit that fits the indicator (`%`, `kg/resident/day`, or a city total such as `t/year`,
  which citypeers divides by the city's population of that year);
- `source` and `note`: free text, shown next to the value;
- `country` (optional): the city's country, a name or ISO3 code as in cities.csv: a name two
  registry cities share is then told apart, and a city of another country is never taken for a
  registry city of the same name (`citypeers.feeds.city_keys`).

The location is a path glob (`{home}`, `{year}`); a file may hold many years: each interval keeps
the years whose 1 January it holds (schedule indicator feeds `@yearly`).
"""

from __future__ import annotations

import duckdb

from citypeers.errors import FeedError
from citypeers.feeds import (
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

REQUIRED_COLUMNS = ("city", "indicator_code", "period", "value", "unit")
OPTIONAL_COLUMNS = ("source", "note", "country")


def fetch(feed: Feed, interval: Interval) -> list[Payload]:
    """Every template file matching the location for the interval's years."""
    return fetch_files(feed, interval, expect="csv")


def _header(con: duckdb.DuckDBPyConnection, payload: LandedPayload, feed: Feed) -> dict[str, str]:
    """Lower-cased, trimmed column name -> the column as the file spells it (quoted for SQL)."""
    try:
        return {name.strip().lower(): sql_identifier(name) for name in con.sql(
            f"SELECT * FROM read_csv({sql_literal(str(payload.path))}, header = true, all_varchar = true) LIMIT 0"
        ).columns}
    except duckdb.Error as exc:
        raise FeedError(feed.feed_id, f"cannot read the template CSV: {exc}", where=payload.request,
                        action="save the file as UTF-8 CSV with the template's header row") from exc


def _source_rows_sql(con: duckdb.DuckDBPyConnection, payload: LandedPayload, feed: Feed) -> str:
    header = _header(con, payload, feed)
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        raise FeedError(
            feed.feed_id,
            f"template CSV lacks required column(s) {', '.join(missing)} (has: {', '.join(header)})",
            where=payload.request,
            action="start from feeds/templates/citypeers_indicator_template.csv and keep its header row",
        )
    optional = {c: (f"nullif(trim({header[c]}), '')" if c in header else "NULL") for c in OPTIONAL_COLUMNS}
    city, code, period, value, unit = (header[c] for c in REQUIRED_COLUMNS)
    return f"""
    SELECT
        nullif(trim({city}), '') AS city_key,
        lower(trim({code})) AS indicator_code,
        try_cast(trim({period}) AS INTEGER) AS year,
        try_cast(replace(trim({value}), ' ', '') AS DOUBLE) AS source_value,
        nullif(trim({unit}), '') AS source_unit,
        coalesce({optional["source"]}, {sql_literal(payload.request)}) AS source_ref,
        {optional["note"]} AS note,
        {sql_literal(payload.sha256)} AS payload_sha256,
        row_number() OVER () AS source_row,
        nullif(concat_ws('; ',
            CASE WHEN nullif(trim({city}), '') IS NULL THEN 'no city' END,
            CASE WHEN try_cast(trim({period}) AS INTEGER) IS NULL
                 THEN 'period ' || coalesce('''' || {period} || '''', '(empty)') || ' is not a year such as 2024' END,
            CASE WHEN nullif(trim({value}), '') IS NOT NULL
                      AND try_cast(replace(trim({value}), ' ', '') AS DOUBLE) IS NULL
                 THEN 'value ''' || {value} || ''' is not a number (use . as decimal mark)' END
        ), '') AS row_error,
        {optional["country"]} AS country_key
    FROM read_csv({sql_literal(str(payload.path))}, header = true, all_varchar = true)
    """


def parse(
    con: duckdb.DuckDBPyConnection, payloads: list[LandedPayload], feed: Feed, interval: Interval
) -> duckdb.DuckDBPyRelation:
    """Landed template files → parsed indicator observations for the interval's years."""
    empty = f"SELECT *, NULL::VARCHAR AS country_key FROM ({empty_indicator_rows_sql()})"
    selects = [_source_rows_sql(con, payload, feed) for payload in payloads] or [empty]
    table = new_table_name("indicator_template_rows")
    con.execute(f"CREATE TEMP TABLE {table} AS {' UNION ALL '.join(selects)}")
    return finish_indicator_rows(con, table, feed, interval)
