"""A feed's own city names, with their country where the table has one → city ids of the registry,
never by a guess.

Indicator feeds name cities as they please: a city id, a name, a local spelling mapped under
`cities:` / `cities_file:` in feeds.yml. A name alone can be wrong in two ways: Athens, USA is not
Athens, Greece (a silent misattribution), and a name two registry cities share cannot be told
apart. So, per distinct (city, country) pair a payload names:

1. Candidates: the city the feed maps the key to; else the city whose id the key spells exactly;
   else the city with that id and every registry city with that name (both case-insensitive).
2. When the row names its country (wide_table `options.country_column`, the template's `country`
   column), only candidates of that country remain. A country matches the registry's
   `country_name` or `country_iso3` (case-insensitive), or the ISO3 code the feed maps its
   spelling to under `options.countries` (e.g. `{"Republic of Korea": KOR}`).
3. One candidate is the city. Several are an error listing them (the row is quarantined and
   counts as broken). None: the row is *out of scope* (a city the registry does not benchmark):
   quarantined with a reason starting "out of scope:", reported, and not counted as broken.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from citypeers.feeds import OUT_OF_SCOPE, sql_literal
from citypeers.registry import City, Feed, cities

REGISTRY = "dbt_project/seeds/cities.csv"


def _fold(text: str) -> str:
    return text.strip().casefold()


def _in_country(city: City, country: str, mapped_iso3: str | None) -> bool:
    return country in (_fold(city.country_name), _fold(city.country_iso3)) or (
        mapped_iso3 is not None and mapped_iso3 == city.country_iso3.upper()
    )


def _describe(city: City) -> str:
    return f"{city.city_id} ({city.city_name} in {city.country_name or '?'})"


def resolve(feed: Feed, key: str, country: str | None, registry: list[City]) -> tuple[str | None, str | None]:
    """(city_id, None) for the one city a key (and country) names, else (None, the reason)."""
    by_id = {city.city_id: city for city in registry}
    mapped = {_fold(k): v for k, v in feed.city_keys.items()}
    folded = _fold(key)
    if folded in mapped:
        candidates = [by_id.get(mapped[folded]) or City(mapped[folded], key, "", "")]
    elif key.strip() in by_id:  # a city id as the registry spells it: one city, whatever names it shares
        candidates = [by_id[key.strip()]]
    else:  # a city id in any case (SDMX codes are upper case), and every city of that name
        candidates = [city for city in registry if city.city_id == folded or _fold(city.city_name) == folded]
    if country is not None and _fold(country) and candidates:
        countries = {_fold(k): str(v).strip().upper() for k, v in (feed.options.get("countries") or {}).items()}
        in_country = [
            city for city in candidates
            if city.city_id not in by_id or _in_country(city, _fold(country), countries.get(_fold(country)))
        ]
        if not in_country:
            return None, (
                f"{OUT_OF_SCOPE}: city {key!r} in {country!r} is not a known city: the registry's "
                f"{', '.join(_describe(c) for c in candidates)} is in another country (if {country!r} is that "
                f"country spelled otherwise, map it to the ISO3 code under options.countries of feed {feed.feed_id})"
            )
        candidates = in_country
    if len(candidates) == 1:
        return candidates[0].city_id, None
    if candidates:
        where = f" in {country!r}" if country else ""
        return None, (
            f"city {key!r}{where} is ambiguous: {len(candidates)} registry cities have that name, "
            f"{', '.join(_describe(c) for c in candidates)}; name the table's country column "
            f"(options.country_column) or map the name to one city id under cities: of feed {feed.feed_id}"
        )
    names = {_fold(city.city_name): city.city_name for city in registry}
    close = difflib.get_close_matches(folded, list(names), n=3, cutoff=0.8)
    hint = f" (close registry names: {', '.join(names[c] for c in close)})" if close else ""
    return None, (
        f"{OUT_OF_SCOPE}: city {key!r} is not a known city: not in the city registry ({REGISTRY}) and not "
        f"mapped under cities: of feed {feed.feed_id}{hint}"
    )


def city_matches_sql(feed: Feed, pairs: Iterable[tuple[str, str | None]]) -> str:
    """An inline table `city_matches(city_key, country_key, city_id, city_problem)` resolving each
    distinct (city key, country) pair a parser saw, as `resolve` does."""
    registry = cities()
    rows = []
    for key, country in sorted(set(pairs), key=lambda pair: (pair[0], pair[1] or "")):
        city_id, problem = resolve(feed, key, country, registry)
        rows.append(f"({sql_literal(key)}, {sql_literal(country)}, {sql_literal(city_id)}, {sql_literal(problem)})")
    values = ", ".join(rows) or "(NULL, NULL, NULL, NULL)"
    return (
        f"(SELECT col0::VARCHAR AS city_key, col1::VARCHAR AS country_key, col2::VARCHAR AS city_id, "
        f"col3::VARCHAR AS city_problem FROM (VALUES {values})) AS city_matches"
    )
