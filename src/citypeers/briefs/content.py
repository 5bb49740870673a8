"""What a city brief says, read from the serving warehouse's marts (read-only) in one place.

Every figure comes from a contracted mart as it is; this module only selects the city's rows and
the few peer-group statistics of the scores that the marts do not hold (the peer group's median
of each domain score, from `fct_city_scores`). The practice marts (`fct_practice_impact`, and
`peer_practices` on `fct_learning_opportunities`) are optional: a warehouse built before them
gives a brief without practices, never an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from citypeers import paths
from citypeers.benchmarking import open_serving, resolve_city

DOMAIN_ORDER = ["air_quality", "noise", "mobility", "waste", "water", "housing"]
PRACTICE_COLUMNS = [
    "practice_id", "city_id", "title", "category_name", "indicator_code", "effect_pct", "effect_pct_lower",
    "effect_pct_upper", "evidence_grade", "grade_reason", "effect_summary",
]
"""The columns of fct_practice_impact the brief needs; without all of them it shows no practices."""
OPTIONAL_PRACTICE_COLUMNS = ["start_date", "is_demo", "interval_level"]

Row = dict[str, Any]


@dataclass
class Brief:
    """Everything one city's brief shows, for one year."""

    city: Row
    year: int
    warehouse_path: Path
    warehouse_published_at: datetime
    years_with_values: list[int]
    scores: list[Row] = field(default_factory=list)
    indicators: list[Row] = field(default_factory=list)
    trend_points: list[Row] = field(default_factory=list)
    targets: list[Row] = field(default_factory=list)
    peer_values: list[Row] = field(default_factory=list)
    peers: list[Row] = field(default_factory=list)
    opportunities: list[Row] = field(default_factory=list)
    practices: list[Row] = field(default_factory=list)
    own_practices: list[Row] = field(default_factory=list)
    has_practice_registry: bool = False
    sources: list[Row] = field(default_factory=list)
    feeds: list[Row] = field(default_factory=list)
    demo_feeds: list[str] = field(default_factory=list)  # feeds.yml `demo: true` behind its values

    @property
    def has_values(self) -> bool:
        return bool(self.indicators)

    @property
    def domains(self) -> list[str]:
        """The domains with a value this year, in the catalogue's order."""
        present = {row["domain"] for row in self.indicators}
        return [d for d in DOMAIN_ORDER if d in present] + sorted(present - set(DOMAIN_ORDER))


def _rows(con: duckdb.DuckDBPyConnection, sql: str, parameters: list[Any] | None = None) -> list[Row]:
    cursor = con.execute(sql, parameters or [])
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    return {row[0] for row in con.execute(
        "select column_name from information_schema.columns where table_name = ?", [table]).fetchall()}


def latest_year(con: duckdb.DuckDBPyConnection) -> int | None:
    """The warehouse's latest year with any benchmarked value: the default year of a brief."""
    return con.execute("select max(year) from fct_city_benchmark").fetchone()[0]


def published_at(database: Path) -> datetime:
    """When the serving file was published: its modification time (publishing is a rename, which keeps it)."""
    return datetime.fromtimestamp(database.stat().st_mtime, tz=UTC)


def load_brief(typed_city: str, year: int | None = None, database: Path | None = None) -> Brief:
    """The brief's content for a city (id or name) and year (default: the warehouse's latest year)."""
    database = database or paths.serving_db()
    with open_serving(database) as con:
        city_id, _ = resolve_city(con, typed_city)
        return read_brief(con, city_id, year if year is not None else latest_year(con), database)


def read_brief(con: duckdb.DuckDBPyConnection, city_id: str, year: int | None, database: Path) -> Brief:
    city = _rows(con, """
        select c.*, g.peer_group_id, g.population_size_class, g.income_group as peer_income_group,
               g.peer_group_city_count
        from dim_city as c left join dim_city_peer_group as g using (city_id)
        where c.city_id = ?""", [city_id])[0]
    years = [row[0] for row in con.execute(
        "select distinct year from fct_city_benchmark where city_id = ? order by year", [city_id]).fetchall()]
    brief = Brief(city=city, year=year or 0, warehouse_path=database,
                  warehouse_published_at=published_at(database), years_with_values=years)
    brief.peers = _peers(con, city_id)
    if year is None:
        return brief
    brief.scores = _scores(con, city_id, year)
    brief.indicators = _indicators(con, city_id, year)
    codes = [row["indicator_code"] for row in brief.indicators]
    brief.trend_points = _rows(con, """
        select indicator_code, year, value, is_valid
        from fct_city_benchmark where city_id = ? and year <= ? order by indicator_code, year""", [city_id, year])
    brief.targets = _rows(con, """
        select indicator_code, target_code, target_name, threshold, strictness_rank
        from dim_indicator_target order by indicator_code, strictness_rank""")
    brief.targets = [row for row in brief.targets if row["indicator_code"] in codes]
    brief.peer_values = _rows(con, """
        select b.indicator_code, b.city_id, b.city_name, b.value, b.is_valid, b.city_id = ? as is_city
        from fct_city_benchmark as b
        where b.year = ?
          and (b.city_id = ? or b.city_id in (select peer_city_id from fct_city_peers where city_id = ?))
          and (b.is_valid or b.city_id = ?)
        order by b.indicator_code, b.value""", [city_id, year, city_id, city_id, city_id])
    brief.opportunities = _opportunities(con, city_id)
    _add_practices(con, brief)
    brief.sources = _rows(con, """
        select a.indicator_code, a.indicator_name, a.domain, a.source_names, a.feed_ids, a.source_ref, a.basis,
               a.derivation_note
        from fct_city_indicator_annual as a where a.city_id = ? and a.year = ?
        order by a.domain, a.indicator_code""", [city_id, year])
    feed_ids = sorted({feed.strip() for row in brief.sources for feed in (row["feed_ids"] or "").split(",")
                       if feed.strip()})
    if feed_ids:
        brief.feeds = _rows(con, """
            select feed_id, source_name, latest_period, first_run_at, last_run_at, last_run_is_success,
                   health_status, quarantined_row_count
            from fct_feed_health where list_contains(?, feed_id) order by feed_id""", [feed_ids])
        if "is_demo" in _columns(con, "dim_feed"):
            brief.demo_feeds = [row["feed_id"] for row in _rows(con, """
                select feed_id from dim_feed where is_demo and list_contains(?, feed_id) order by feed_id""",
                [feed_ids])]
    return brief


def _peers(con: duckdb.DuckDBPyConnection, city_id: str) -> list[Row]:
    """The similar cities, with both cities' context so that the brief can say why in any language."""
    return _rows(con, """
        select p.peer_rank, p.peer_city_id, p.peer_city_name, p.similarity, p.shared_feature_count,
               p.population_distance, p.density_distance, p.gdp_distance, p.climate_distance, p.region_distance,
               p.similar_on, p.similarity_reason,
               c.population as city_population, c.population_density as city_density,
               c.gdp_per_capita_ppp as city_gdp, c.climate_zone as city_climate, c.region as city_region,
               o.population as peer_population, o.population_density as peer_density,
               o.gdp_per_capita_ppp as peer_gdp, o.climate_zone as peer_climate, o.region as peer_region,
               o.country_name as peer_country_name, o.country_iso3 as peer_country_iso3
        from fct_city_peers as p
        inner join dim_city as c on p.city_id = c.city_id
        inner join dim_city as o on p.peer_city_id = o.city_id
        where p.city_id = ? order by p.peer_rank""", [city_id])


def _scores(con: duckdb.DuckDBPyConnection, city_id: str, year: int) -> list[Row]:
    """Domain and overall scores with their coverage, and the median of the same score in the peer group."""
    return _rows(con, """
        with peer_group as (
            select city_id from dim_city_peer_group
            where peer_group_id = (select peer_group_id from dim_city_peer_group where city_id = ?)
        ),
        peer_scores as (
            select domain, median(score) as peer_group_median, count(score) as peer_group_scored_count
            from fct_city_scores
            where year = ? and city_id in (select city_id from peer_group)
            group by domain
        )
        select s.domain, s.score_level, s.score, s.coverage, s.meets_coverage_rule, s.indicator_count,
               s.scorable_indicator_count, s.indicators_used, s.domain_count, s.domains_used,
               p.peer_group_median, coalesce(p.peer_group_scored_count, 0) as peer_group_scored_count
        from fct_city_scores as s left join peer_scores as p using (domain)
        where s.city_id = ? and s.year = ?
        order by s.score_level desc, s.domain""", [city_id, year, city_id, year])


def _indicators(con: duckdb.DuckDBPyConnection, city_id: str, year: int) -> list[Row]:
    return _rows(con, """
        select b.indicator_code, b.indicator_name, b.domain, b.direction, b.value, b.unit, b.unit_label,
               b.quality_flag, b.quality_note, b.is_valid, b.peer_group_label, b.peer_group_valid_count,
               b.peer_group_median, b.peer_group_rank, b.similar_cities_valid_count, b.similar_cities_rank,
               b.overall_valid_count, b.overall_rank, b.score, b.traffic_light, b.highest_target_met,
               b.highest_target_met_name, b.next_target, b.next_target_name, b.next_target_threshold,
               b.gap_to_next_target, b.yoy_change, b.trend_slope_per_year, b.trend_point_count,
               b.trend_improvement_per_year, b.years_to_next_target,
               a.station_count, a.stations_meeting_rule, a.valid_day_share, a.context_year, a.normalised_by,
               a.basis
        from fct_city_benchmark as b
        left join fct_city_indicator_annual as a
            on b.city_id = a.city_id and b.indicator_code = a.indicator_code and b.year = a.year
        where b.city_id = ? and b.year = ?
        order by b.domain, b.indicator_code""", [city_id, year])


def _opportunities(con: duckdb.DuckDBPyConnection, city_id: str) -> list[Row]:
    extra = [c for c in ("peer_practices", "peer_practice_count", "peer_best_evidence_grade")
             if c in _columns(con, "fct_learning_opportunities")]
    return _rows(con, f"""
        select o.indicator_code, o.indicator_name, i.domain, i.direction, i.unit_label, o.year, o.opportunity_type,
               o.opportunity_rank, o.peer_city_id, o.peer_city_name, o.similarity, o.similar_on, o.city_value,
               o.peer_value, o.unit, o.peer_quality_flag, o.city_trend_slope_per_year, o.peer_trend_slope_per_year,
               o.peer_trend_point_count, o.reason{''.join(f', o.{c}' for c in extra)}
        from fct_learning_opportunities as o inner join dim_indicator as i using (indicator_code)
        where o.city_id = ?
        order by i.domain, o.indicator_code, o.opportunity_type, o.opportunity_rank""", [city_id])


def _add_practices(con: duckdb.DuckDBPyConnection, brief: Brief) -> None:
    """The peers' practices (and the city's own) with their evidence, when the registry's marts exist."""
    present = _columns(con, "fct_practice_impact")
    if not set(PRACTICE_COLUMNS) <= present:
        return
    brief.has_practice_registry = True
    columns = PRACTICE_COLUMNS + [c for c in OPTIONAL_PRACTICE_COLUMNS if c in present]
    select = ", ".join(f"p.{c}" for c in columns)
    brief.practices = _rows(con, f"""
        select distinct {select}, i.domain, i.indicator_name
        from fct_practice_impact as p inner join dim_indicator as i using (indicator_code)
        where p.city_id in (select peer_city_id from fct_learning_opportunities where city_id = ?)
        order by i.domain, p.city_id, p.title, p.indicator_code""", [brief.city["city_id"]])
    brief.own_practices = _rows(con, f"""
        select {select} from fct_practice_impact as p where p.city_id = ? order by p.title""",
                                [brief.city["city_id"]])


def brief_cities(con: duckdb.DuckDBPyConnection) -> list[Row]:
    """Every city, with whether it has any benchmarked value (a brief) in the warehouse."""
    return _rows(con, """
        select c.city_id, c.city_name, c.country_name,
               exists (select 1 from fct_city_benchmark as b where b.city_id = c.city_id) as has_values
        from dim_city as c order by c.city_id""")
