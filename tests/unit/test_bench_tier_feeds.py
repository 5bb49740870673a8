"""The benchmark tier's non-air feeds (benchmarks/tiers.py) go through the real ingest, gate included,
without a quarantined row: written for 4 cities, 2 years and 2 GTFS networks, so a writer that drifts
from what a parser or a parsed__ suite accepts fails here and not in a 20-minute `make bench`."""

from __future__ import annotations

import duckdb
import pytest
from benchmarks.tiers import GTFS_FEED, Tier, domain_feed_ids, write_tier

from citypeers import ingest, paths
from tests.citypeers_home import temporary_home

TINY = Tier("tiny", cities=4, indicator_years=2, gtfs_cities=2)  # one city per income group and region
# feed → figures per city and year (per network for GTFS)
FIGURES_PER_CITY = {"bench_noise": 2, "bench_water": 3, "bench_waste": 3, "bench_city_template": 7,
                    "bench_gbfs_000": 2, GTFS_FEED: 2}


@pytest.fixture(scope="module")
def tier_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("tier")
    return home, write_tier(TINY, home, air=False)


@pytest.fixture
def tier_environment(tier_home, monkeypatch):
    home, environment = tier_home
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with temporary_home(home):
        yield home


@pytest.mark.parametrize("feed_id", domain_feed_ids(TINY))
def test_every_year_of_a_domain_feed_is_published_whole(tier_environment, feed_id):
    for year in TINY.years:
        outcome = ingest.ingest(feed_id, f"{year}-01-01", f"{year + 1}-01-01")
        assert (outcome["published"], outcome["quarantined"]) == (FIGURES_PER_CITY[feed_id] * TINY.cities, 0), year


def test_the_gtfs_networks_give_both_figures_for_each_city(tier_environment):
    outcome = ingest.ingest(GTFS_FEED, f"{TINY.year}-01-01", f"{TINY.year + 1}-01-01")
    assert (outcome["published"], outcome["quarantined"]) == (FIGURES_PER_CITY[GTFS_FEED] * TINY.gtfs_cities, 0)
    parsed = paths.parsed_file("gtfs", GTFS_FEED, str(TINY.year))
    figures = dict(duckdb.sql(f"""
        select o.indicator_code, o.value / case o.indicator_code when 'pt_stops_per_km2' then c.area_km2
                                              else c.population end
        from '{parsed}' as o join '{paths.dbt_project_dir() / "seeds" / "cities.csv"}' as c using (city_id)
        where o.city_id = 'city_00000'
    """).fetchall())
    # a total divided by the population in residents (area in km²) gives the canonical unit; both lie
    # within the catalogue's score bounds, as the generator intends
    assert 5 <= figures["pt_departures_per_1000"] <= 100, figures
    assert 1 <= figures["pt_stops_per_km2"] <= 30, figures
