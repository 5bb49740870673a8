"""A registry of practices (what a city did, from when, aimed at which indicators) → parsed practices.

Two formats, told apart by the file's extension, with the same fields:

- CSV (`feeds/templates/citypeers_practices_template.csv`), `indicator_codes` separated by `;`:

      practice_id,city,title,domain,category,indicator_codes,start_date,end_date,scope,description,source_url,contact
      bcn-lez-2020,barcelona,Low-emission zone,,low_emission_zone,no2_annual_mean;pm10_annual_mean,2020-01-01,,zone,...

- YAML (`feeds/templates/citypeers_practices_template.yml`) for hand-written registries: a
  `practices:` list of mappings, `indicator_codes` a list; `demo: true` marks a demo entry (an
  optional `demo` column does the same in CSV).

Fields: `city` is a city id or name of `dbt_project/seeds/cities.csv`, or a key the feed maps under
`cities:` (empty: the feed's `city_id`), matched as indicator feeds' cities are
(`citypeers.feeds.city_keys`: within the optional `country`, never a name two cities share);
`category` a row of the vocabulary `dbt_project/seeds/practice_categories.csv`, whose domain an
empty `domain` takes; `indicator_codes` codes of the catalogue `dbt_project/seeds/indicators.csv`
(not context figures); dates are days (YYYY-MM-DD), `end_date` empty while the practice runs;
`scope` citywide, zone or pilot.

A registry is a snapshot, not a log: every interval ingests the whole registry as it stands, and
staging keeps each feed's latest period. A practice whose start is not before the interval's end is
quarantined for that interval ("start in the future"): judged against the interval, never "now",
so a rerun or a backfill of an interval gives the same partition.
"""

from __future__ import annotations

import csv
from datetime import date, datetime, time

import duckdb
import yaml

from citypeers import paths, units
from citypeers.errors import FeedError
from citypeers.feeds import (
    OUT_OF_SCOPE,
    PARSED_PRACTICE_COLUMNS,
    mapping_table_sql,
    new_table_name,
    sql_identifier,
    sql_literal,
)
from citypeers.feeds.city_keys import city_matches_sql
from citypeers.feeds.files import fetch_files
from citypeers.feeds.payloads import LandedPayload, Payload
from citypeers.intervals import Interval
from citypeers.registry import Feed

TEMPLATE_COLUMNS = (
    "practice_id", "city", "country", "title", "domain", "category", "indicator_codes", "start_date", "end_date",
    "scope", "description", "source_url", "contact",
)
# A CSV without one of these columns cannot be read as a registry (the others may be left out).
REQUIRED_COLUMNS = ("practice_id", "city", "title", "category", "indicator_codes", "start_date", "scope")
FIELDS = (*TEMPLATE_COLUMNS, "demo")
SCOPES = ("citywide", "zone", "pilot")
CSV_SUFFIXES = (".csv",)
YAML_SUFFIXES = (".yml", ".yaml")

_TEMPLATE_HINT = "start from feeds/templates/citypeers_practices_template.csv (or .yml) and keep its fields"


def practice_categories() -> dict[str, str]:
    """category -> domain, from the vocabulary seed."""
    seed = paths.dbt_project_dir() / "seeds" / "practice_categories.csv"
    with seed.open(newline="", encoding="utf-8") as handle:
        return {row["category"]: row["domain"] for row in csv.DictReader(handle)}


def fetch(feed: Feed, interval: Interval) -> list[Payload]:
    """Every registry file (CSV or YAML) matching the location: the whole registry, every interval."""
    return fetch_files(feed, interval)


def _create_raw_table(con: duckdb.DuckDBPyConnection) -> str:
    """The registry's entries as written (text), one table for every payload of the period."""
    table = new_table_name("practice_entries")
    columns = ", ".join(f"{field} VARCHAR" for field in FIELDS)
    con.execute(f"CREATE TEMP TABLE {table} ({columns}, payload_sha256 VARCHAR, source_row BIGINT, "
                "row_error VARCHAR)")
    return table


def _insert_csv(con: duckdb.DuckDBPyConnection, table: str, payload: LandedPayload, feed: Feed) -> None:
    """CSV rows as text; `source_row` is the data row (the header not counted)."""
    read = (f"read_csv({sql_literal(str(payload.path))}, header = true, all_varchar = true, "
            "delim = ',', quote = '\"')")
    try:
        columns = con.sql(f"SELECT * FROM {read} LIMIT 0").columns
    except duckdb.Error as exc:
        raise FeedError(feed.feed_id, f"cannot read the practices CSV: {exc}", where=payload.request,
                        action="save the file as UTF-8 CSV with the template's header row") from exc
    header = {name.strip().lower(): sql_identifier(name) for name in columns}
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        raise FeedError(
            feed.feed_id,
            f"practices CSV lacks required column(s) {', '.join(missing)} (has: {', '.join(header)})",
            where=payload.request, action=_TEMPLATE_HINT,
        )
    values = ", ".join(header.get(field, "NULL") for field in FIELDS)
    con.execute(f"INSERT INTO {table} SELECT {values}, {sql_literal(payload.sha256)}, "
                f"row_number() OVER (), NULL FROM {read}")


def _text(value: object) -> str | None:
    """A YAML scalar as the text a CSV cell would hold (dates as YYYY-MM-DD)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _yaml_entry(entry: object) -> tuple[list[str | None], str | None]:
    """One `practices:` item → its field texts and what is wrong with its shape, if anything."""
    if not isinstance(entry, dict):
        return [None] * len(FIELDS), f"entry {entry!r} is not a mapping of fields ({', '.join(FIELDS)})"
    problems = []
    unknown = sorted(str(key) for key in entry if key not in FIELDS)
    if unknown:
        problems.append(f"unknown field(s) {', '.join(unknown)}: the fields are {', '.join(FIELDS)}")
    texts = []
    for field in FIELDS:
        value = entry.get(field)
        if field == "indicator_codes" and isinstance(value, list):
            value = ";".join(_text(code) or "" for code in value)
        if isinstance(value, list | dict):
            problems.append(f"{field} must be a single value, not a {type(value).__name__}")
            value = None
        texts.append(_text(value))
    return texts, "; ".join(problems) or None


def _insert_yaml(con: duckdb.DuckDBPyConnection, table: str, payload: LandedPayload, feed: Feed) -> None:
    """`practices:` entries as text; `source_row` is the entry's position in the list, from 1."""
    try:
        document = yaml.safe_load(payload.path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise FeedError(feed.feed_id, f"cannot read the practices YAML: {exc}", where=payload.request,
                        action="save the file as UTF-8 YAML; " + _TEMPLATE_HINT) from exc
    if not isinstance(document, dict) or "practices" not in document:
        raise FeedError(feed.feed_id, "the practices YAML has no `practices:` list", where=payload.request,
                        action="write the entries under `practices:` (" + _TEMPLATE_HINT + ")")
    entries = document["practices"] or []  # a blank `practices:` (the template) is an empty registry
    if not isinstance(entries, list):
        raise FeedError(feed.feed_id, f"`practices:` is a {type(entries).__name__}, not a list of entries",
                        where=payload.request, action="write each practice as a `- practice_id: ...` item")
    rows = []
    for number, entry in enumerate(entries, start=1):
        texts, problem = _yaml_entry(entry)
        rows.append((*texts, payload.sha256, number, problem))
    if rows:
        con.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(rows[0]))})", rows)


def _list_literal(values: list[str]) -> str:
    return "[" + ", ".join(sql_literal(value) for value in values) + "]::VARCHAR[]"


def finish_practice_rows(
    con: duckdb.DuckDBPyConnection, raw_table: str, feed: Feed, interval: Interval
) -> duckdb.DuckDBPyRelation:
    """Registry entries (text) → parsed practices (contract columns, order and types), each with
    every reason it cannot be used in `parse_error`, naming the field, the value and what to do."""
    known_codes = sorted(code for code, row in units.indicator_catalogue().items() if row["domain"] != "context")
    categories = practice_categories()
    feed_city = sql_literal(feed.city_id)
    period_end = f"TIMESTAMP '{interval.end:%Y-%m-%d %H:%M:%S}'"
    city_pairs = con.sql(
        f"SELECT DISTINCT trim(city), nullif(trim(country), '') FROM {raw_table} "
        "WHERE nullif(trim(city), '') IS NOT NULL"
    ).fetchall()
    period_end_text = (f"{interval.end:%Y-%m-%d}" if interval.end.time() == time.min
                       else f"{interval.end:%Y-%m-%d %H:%M} UTC")
    future = sql_literal(
        f" is in the future for period {interval.label} (which ends {period_end_text}): a practice "
        "is published from the first period it has started in; if it has started, correct the date"
    )
    scope_list = ", ".join(SCOPES)
    scope_values = ", ".join(sql_literal(scope) for scope in SCOPES)
    selected = ",\n        ".join(
        f"CAST({name} AS {sql_type}) AS {name}" for name, sql_type in PARSED_PRACTICE_COLUMNS
    )
    return con.sql(f"""
    WITH entries AS (
        SELECT
            nullif(trim(practice_id), '') AS practice_id,
            nullif(trim(city), '') AS city_key,
            nullif(trim(country), '') AS country_key,
            nullif(trim(title), '') AS title,
            lower(nullif(trim(domain), '')) AS given_domain,
            lower(nullif(trim(category), '')) AS category,
            list_sort(list_distinct(list_filter(
                list_transform(string_split(coalesce(indicator_codes, ''), ';'), lambda code: lower(trim(code))),
                lambda code: code <> ''))) AS codes,
            nullif(trim(start_date), '') AS start_text,
            CAST(try_strptime(nullif(trim(start_date), ''), '%Y-%m-%d') AS DATE) AS start_date,
            nullif(trim(end_date), '') AS end_text,
            CAST(try_strptime(nullif(trim(end_date), ''), '%Y-%m-%d') AS DATE) AS end_date,
            lower(nullif(trim(scope), '')) AS scope,
            nullif(trim(description), '') AS description,
            nullif(trim(source_url), '') AS source_url,
            nullif(trim(contact), '') AS contact,
            nullif(trim(demo), '') AS demo_text,
            payload_sha256,
            source_row,
            row_error
        FROM {raw_table}
    ),
    resolved AS (
        SELECT
            entries.*,
            CASE WHEN entries.city_key IS NULL THEN {feed_city} ELSE city_matches.city_id END AS city_id,
            city_matches.city_problem,
            category_domains.domain AS category_domain,
            coalesce(entries.given_domain, category_domains.domain) AS domain,
            list_filter(entries.codes, lambda code: NOT list_contains({_list_literal(known_codes)}, code))
                AS unknown_codes,
            array_to_string(entries.codes, ';') AS indicator_codes,
            coalesce(try_cast(entries.demo_text AS BOOLEAN), false) AS is_demo
        FROM entries
        LEFT JOIN {city_matches_sql(feed, city_pairs)}
            ON entries.city_key = city_matches.city_key
            AND entries.country_key IS NOT DISTINCT FROM city_matches.country_key
        LEFT JOIN {mapping_table_sql(categories, 'category_domains', 'category', 'domain')}
            ON entries.category = category_domains.category
    ),
    checked AS (
        SELECT
            resolved.*,
            CASE WHEN starts_with(city_problem, {sql_literal(OUT_OF_SCOPE + ":")}) THEN city_problem
            ELSE nullif(concat_ws('; ',
                row_error,
                CASE WHEN practice_id IS NULL THEN 'practice_id is missing: give every practice a stable id of '
                    || 'its own (e.g. bcn-lez-2020), the same in every delivery' END,
                CASE WHEN city_id IS NULL AND city_key IS NULL THEN 'city is missing: give a city id or name of '
                    || 'dbt_project/seeds/cities.csv (or set city_id: on the feed in feeds.yml)'
                     WHEN city_id IS NULL THEN city_problem END,
                CASE WHEN title IS NULL THEN 'title is missing: give the practice a short title' END,
                CASE WHEN category IS NULL THEN 'category is missing: use a category of '
                    || 'dbt_project/seeds/practice_categories.csv (e.g. low_emission_zone)'
                     WHEN category_domain IS NULL THEN 'category ''' || category || ''' is not in the vocabulary '
                    || 'dbt_project/seeds/practice_categories.csv: use one of its categories, or add a row there' END,
                CASE WHEN given_domain <> category_domain THEN 'domain ''' || given_domain || ''' is not the domain '
                    || 'of category ' || category || ' (' || category_domain || '): write ' || category_domain
                    || ' or leave domain empty' END,
                CASE WHEN len(codes) = 0 THEN 'indicator_codes is missing: name the indicator(s) the practice '
                    || 'targets, codes of dbt_project/seeds/indicators.csv separated by '';'''
                     WHEN len(unknown_codes) > 0 THEN 'indicator code(s) ''' || array_to_string(unknown_codes, ''', ''')
                    || ''' not in the catalogue dbt_project/seeds/indicators.csv (context figures such as '
                    || 'population are not targets): use its indicator_code values, separated by '';''' END,
                CASE WHEN start_text IS NULL THEN 'start_date is missing: give the day the practice started, '
                    || 'as YYYY-MM-DD'
                     WHEN start_date IS NULL THEN 'start_date ''' || start_text || ''' is not a date: write '
                    || 'YYYY-MM-DD (e.g. 2025-03-01)' END,
                CASE WHEN end_text IS NOT NULL AND end_date IS NULL THEN 'end_date ''' || end_text
                    || ''' is not a date: write YYYY-MM-DD, or leave it empty while the practice runs' END,
                CASE WHEN start_date > end_date THEN 'start_date ' || start_date || ' is after end_date '
                    || end_date || ': fix either date (leave end_date empty while the practice runs)' END,
                CASE WHEN CAST(start_date AS TIMESTAMP) >= {period_end} THEN 'start_date ' || start_date
                    || {future} END,
                CASE WHEN scope IS NULL THEN {sql_literal(f"scope is missing: write one of {scope_list}")}
                     WHEN scope NOT IN ({scope_values}) THEN 'scope ''' || scope || ''' is not one of '
                    || {sql_literal(scope_list)} END,
                CASE WHEN demo_text IS NOT NULL AND try_cast(demo_text AS BOOLEAN) IS NULL
                     THEN 'demo ''' || demo_text || ''' is not true or false' END
            ), '') END AS parse_error
        FROM resolved
    )
    SELECT
        {selected}
    FROM checked
    ORDER BY practice_id, payload_sha256, source_row
    """)


def parse(
    con: duckdb.DuckDBPyConnection, payloads: list[LandedPayload], feed: Feed, interval: Interval
) -> duckdb.DuckDBPyRelation:
    """Landed registry files (CSV and/or YAML) → parsed practices, the whole registry every interval."""
    table = _create_raw_table(con)
    for payload in payloads:
        suffix = payload.path.suffix.lower()
        if suffix in CSV_SUFFIXES:
            _insert_csv(con, table, payload, feed)
        elif suffix in YAML_SUFFIXES:
            _insert_yaml(con, table, payload, feed)
        else:
            raise FeedError(feed.feed_id, f"a practices registry is a .csv, .yml or .yaml file, not '{suffix}'",
                            where=payload.request, action="point the feed's location at the registry files only")
    return finish_practice_rows(con, table, feed, interval)
