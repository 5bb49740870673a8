"""End to end: the city briefs of the shared e2e warehouse, compared with its marts, and their PDFs.

`report__city_briefs` ran under Airflow at the end of the session's `citypeers run-dags` (see
tests/e2e/pipeline.py); these tests read what it wrote, render briefs afresh from the serving
warehouse to compare every section with the marts, and open the PDFs as a reader would (pypdf,
poppler's pdffonts and pdftoppm). To iterate without rerunning the DAGs, point CITYPEERS_E2E_HOME
at a home that an earlier session published.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html import unescape
from pathlib import Path

import duckdb
import pytest
from PIL import Image
from pypdf import PdfReader

from citypeers.briefs import batch
from citypeers.briefs.content import load_brief
from citypeers.briefs.i18n import DOMAIN_NAMES, TRAFFIC_LIGHTS, language
from citypeers.briefs.render import render_html
from tests.citypeers_home import temporary_home
from tests.e2e.pipeline import BIN, environment, run

pytestmark = pytest.mark.e2e

EUROPEAN, ASIAN = "madrid", "tokyo"
PAGES = range(2, 16)


def serving(home: Path) -> Path:
    return home / "warehouse" / "citypeers.duckdb"


def rows(home: Path, sql: str, parameters: list | None = None) -> list[dict]:
    with duckdb.connect(str(serving(home)), read_only=True) as con:
        cursor = con.execute(sql, parameters or [])
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


def text_of(html: str, element_id: str) -> str:
    match = re.search(rf'<(\w+)[^>]*\bid="{re.escape(element_id)}"', html)
    assert match, f"no element #{element_id}"
    depth, position = 1, match.end()
    pattern = re.compile(rf"<(/?){match.group(1)}\b")
    while depth:
        tag = pattern.search(html, position)
        depth += -1 if tag.group(1) else 1
        position = tag.end()
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html[match.start():position]))
    return unescape(text).replace("\xa0", " ")


def plain(text: str) -> str:
    """A figure as text_of shows it (no-break spaces, as in Spanish '62 %', become plain spaces)."""
    return text.replace("\xa0", " ")


@pytest.fixture(scope="module")
def year(published_home) -> int:
    return rows(published_home, "select max(year) as year from fct_city_benchmark")[0]["year"]


@pytest.fixture(scope="module")
def cities_with_data(published_home) -> list[str]:
    return [r["city_id"] for r in rows(published_home, "select distinct city_id from fct_city_benchmark order by 1")]


@pytest.fixture(scope="module")
def briefs(published_home, year, cities_with_data) -> dict[tuple[str, str], str]:
    """Every city's brief in both languages, rendered now from the serving warehouse."""
    return {(city, lang): render_html(load_brief(city, year, serving(published_home)), lang)
            for city in cities_with_data for lang in ("en", "es")}


@pytest.fixture(params=["en", "es"])
def localized(request, briefs, cities_with_data):
    """(the language's formats and words, [(city, its brief in that language)])."""
    return language(request.param), [(city, briefs[(city, request.param)]) for city in cities_with_data]


def test_the_dag_rendered_every_city_with_data_in_both_languages_with_an_index(published_home, year,
                                                                                 cities_with_data):
    folder = published_home / "briefs" / str(year)
    summary = json.loads((folder / "index.json").read_text(encoding="utf-8"))
    assert summary["ok"] == cities_with_data and summary["failed"] == {} and summary["not_rendered"] == []
    index = (folder / "index.html").read_text(encoding="utf-8")
    for city in cities_with_data:
        for name in (f"{city}.{lang}.{fmt}" for lang in ("en", "es") for fmt in ("html", "pdf")):
            assert (folder / name).stat().st_size > 10_000, name
            assert f'href="{name}"' in index
    assert "Last rendered" in index and "Generados por última vez" in (folder / "index.es.html").read_text()


def test_every_brief_of_the_demo_says_it_is_demo_data(localized):
    """Every feed of the demo is `demo: true`: no brief may pass for measurements."""
    _, city_briefs = localized
    for city, html in city_briefs:
        assert 'id="demo-data"' in html, city


def test_scores_and_every_indicator_show_the_citys_figures_from_the_marts(published_home, year, localized):
    words, city_briefs = localized
    for city, html in city_briefs:
        scores = text_of(html, "scores")
        for score in rows(published_home, """
                with groups as (select city_id, peer_group_id from dim_city_peer_group)
                select s.domain, s.score, (
                    select median(o.score) from fct_city_scores as o inner join groups as g using (city_id)
                    where o.year = s.year and o.domain = s.domain
                      and g.peer_group_id = (select peer_group_id from groups where city_id = s.city_id)
                ) as peer_median
                from fct_city_scores as s where s.city_id = ? and s.year = ?""", [city, year]):
            assert words.vocabulary(DOMAIN_NAMES, score["domain"]) in scores
            if score["score"] is not None:
                assert words.number(score["score"], 0) in scores, (city, score)
            if score["peer_median"] is not None:
                assert words.number(score["peer_median"], 0) in scores, (city, score)
        marts = rows(published_home, "select * from fct_city_benchmark where city_id = ? and year = ?", [city, year])
        assert marts, f"{city} has no benchmark rows in {year}"
        for row in marts:
            cell = text_of(html, f"indicator-{row['indicator_code']}")
            assert words.number(row["value"]) in cell, (city, row["indicator_code"], cell)
            if row["peer_group_median"] is not None:
                assert f"{words.number(row['peer_group_median'])} ({row['peer_group_valid_count']})" in cell
            if row["similar_cities_rank"] is not None:
                rank = words.gettext("%(rank)d of %(count)d") % {"rank": row["similar_cities_rank"],
                                                                  "count": row["similar_cities_valid_count"]}
                assert rank in cell, (city, row["indicator_code"], cell)
            if row["traffic_light"]:
                assert words.vocabulary(TRAFFIC_LIGHTS, row["traffic_light"]) in cell
            if row["next_target_name"]:
                assert words.word(row["next_target_name"]) in cell


def test_similar_cities_learning_opportunities_and_sources_come_from_the_marts(published_home, year, localized):
    words, city_briefs = localized
    for city, html in city_briefs:
        peers = text_of(html, "peers")
        for peer in rows(published_home, "select * from fct_city_peers where city_id = ?", [city]):
            assert peer["peer_city_name"] in peers and plain(words.percent(peer["similarity"])) in peers
        for opportunity in rows(published_home, """
                select o.*, i.domain from fct_learning_opportunities as o inner join dim_indicator as i
                using (indicator_code) where o.city_id = ?""", [city]):
            section = text_of(html, f"learning-{opportunity['domain']}")
            assert opportunity["peer_city_name"] in section
            assert words.number(abs(opportunity["peer_value"] if opportunity["opportunity_type"] == "does_better"
                                    else opportunity["peer_trend_slope_per_year"])) in section
        sources = text_of(html, "sources")
        feeds = rows(published_home, """
            select distinct h.feed_id, h.latest_period from fct_city_indicator_annual as a
            inner join fct_feed_health as h on list_contains(string_split(a.feed_ids, ','), h.feed_id)
            where a.city_id = ? and a.year = ?""", [city, year])
        assert feeds
        for feed in feeds:
            assert feed["feed_id"] in sources and feed["latest_period"] in sources


def test_flagged_values_carry_their_caveat_and_no_rank(published_home, year, briefs):
    flagged = rows(published_home, """
        select city_id, indicator_code, quality_note from fct_city_benchmark where year = ? and not is_valid""",
                   [year])
    assert flagged, "the e2e slice plants incomplete years (e.g. Delhi's air in its last year); none found"
    for row in flagged:
        for lang, rank_words in (("en", "not ranked (flagged)"), ("es", "sin posición (marcado)")):
            html = briefs[(row["city_id"], lang)]
            cell = text_of(html, f"indicator-{row['indicator_code']}")
            number = re.search(r"⚠(\d+)", cell)
            assert number and rank_words in cell, cell
            caveat = text_of(html, f"caveat-{number.group(1)}")
            assert row["quality_note"] in caveat
            assert ("Shown, but left out of ranks" if lang == "en" else "queda fuera de posiciones") in caveat


@pytest.mark.parametrize("city, lang", [(EUROPEAN, "en"), (EUROPEAN, "es"), (ASIAN, "en"), (ASIAN, "es")])
def test_the_pdf_opens_embeds_its_fonts_and_its_first_page_is_not_blank(published_home, year, tmp_path, city, lang):
    pdf = published_home / "briefs" / str(year) / f"{city}.{lang}.pdf"
    reader = PdfReader(pdf)
    assert len(reader.pages) in PAGES
    first_page = reader.pages[0].extract_text()
    assert rows(published_home, "select city_name from dim_city where city_id = ?", [city])[0]["city_name"] \
        in first_page
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    table = [line.split() for line in fonts.splitlines()[2:] if line.strip()]
    assert table, fonts
    for font in table:
        assert font[-5] == "yes", f"font not embedded: {font}"
    subprocess.run(["pdftoppm", "-f", "1", "-l", "1", "-r", "40", "-png", str(pdf), str(tmp_path / "page")],
                   check=True)
    image = Image.open(next(tmp_path.glob("page*.png"))).convert("L")
    dark = sum(image.histogram()[:200])
    assert dark / (image.width * image.height) > 0.01, "the first page is (nearly) blank"


@pytest.mark.parametrize("city, native, font", [("tokyo", "東京", "CJK-JP"), ("seoul", "서울", "CJK-KR")])
def test_city_names_in_their_own_script_render_with_an_embedded_cjk_font(published_home, year, city, native,
                                                                         font):
    pdf = published_home / "briefs" / str(year) / f"{city}.en.pdf"
    assert native in PdfReader(pdf).pages[0].extract_text()
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert any(font in line and " yes " in line for line in fonts.splitlines()), fonts


def test_a_city_without_data_says_so_instead_of_crashing(published_home, tmp_path, year):
    city = rows(published_home, """
        select city_id, city_name from dim_city
        where city_id not in (select city_id from fct_city_indicator_annual) order by city_id limit 1""")
    assert city, "every city of the registry has data: the e2e slice should leave most without"
    env = environment(published_home, published_home / "feeds.yml")
    for lang, words in (("en", "No indicator values for"), ("es", "No hay valores de indicadores para")):
        target = tmp_path / f"nodata.{lang}.pdf"
        run([str(BIN / "citypeers"), "brief", city[0]["city_id"], "--lang", lang, "--format", "pdf",
             "--out", str(target)], env)
        text = " ".join(PdfReader(target).pages[0].extract_text().split())
        assert f"{words} {city[0]['city_name']} " in text


def test_the_peers_practices_and_their_evidence_are_shown_when_the_registry_exists(published_home, tmp_path):
    """A copy of the warehouse gains a practice impact mart (the practice marts' contract, trimmed to
    the columns the brief reads) with one practice of a peer the city learns from."""
    copy = tmp_path / "citypeers.duckdb"
    shutil.copy(serving(published_home), copy)
    with duckdb.connect(str(copy)) as con:
        peer, code, domain = con.execute("""
            select o.peer_city_id, o.indicator_code, i.domain from fct_learning_opportunities as o
            inner join dim_indicator as i using (indicator_code) where o.city_id = ? limit 1""",
                                         [EUROPEAN]).fetchone()
        con.execute("""
            create or replace table fct_practice_impact as select
                'p1' as practice_id, ? as city_id, 'Low-emission zone' as title, 'Traffic restriction' as
                category_name, ? as indicator_code, -14.6 as effect_pct, -19.2 as effect_pct_lower,
                -10.9 as effect_pct_upper, 'moderate' as evidence_grade,
                'good pre-period fit; placebo rank 2 of 12' as grade_reason, '-15% (-19% to -11%)' as effect_summary,
                date '2024-01-01' as start_date, true as is_demo""", [peer, code])
    html = render_html(load_brief(EUROPEAN, None, copy), "en")
    section = text_of(html, f"learning-{domain}")
    for expected in ("Low-emission zone", "Traffic restriction", "−15%", "(−19% to −11%)", "moderate evidence",
                     "good pre-period fit; placebo rank 2 of 12", "Demo entry"):
        assert expected in section, expected
    assert "no practices registry" not in html
    without = tmp_path / "without_practices.duckdb"
    shutil.copy(serving(published_home), without)
    with duckdb.connect(str(without)) as con:
        con.execute("drop table fct_practice_impact")
    assert "no practices registry yet" in render_html(load_brief(EUROPEAN, None, without), "en")


def home_with_the_warehouse(published_home: Path, tmp_path: Path) -> Path:
    """A fresh home holding a copy of the e2e serving warehouse (its own briefs, a warehouse to change)."""
    home = tmp_path / "home"
    (home / "warehouse").mkdir(parents=True)
    shutil.copy2(serving(published_home), home / "warehouse" / "citypeers.duckdb")
    return home


def render_english_html(home: Path, **options) -> dict:
    """`citypeers briefs` in process, English HTML only (the fingerprint covers the languages and
    formats asked for); the summary with this run's rendered and unchanged cities."""
    with temporary_home(home):
        return batch.render_all(langs=["en"], formats=["html"], **options)


def html_files(home: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted((home / "briefs").glob("*/*.en.html"))}


def test_one_citys_failure_leaves_the_others_rendered_and_is_named_in_the_index(published_home, tmp_path,
                                                                                monkeypatch, cities_with_data):
    home = home_with_the_warehouse(published_home, tmp_path)
    broken = cities_with_data[0]
    real_read = batch.read_brief

    def read_brief(con, city_id, year, database):
        if city_id == broken:
            raise RuntimeError("simulated failure")
        return real_read(con, city_id, year, database)

    monkeypatch.setattr(batch, "read_brief", read_brief)
    with pytest.raises(batch.BriefsFailed, match=broken):
        render_english_html(home, workers=1)
    summary = json.loads(next((home / "briefs").glob("*/index.json")).read_text(encoding="utf-8"))
    assert summary["failed"] == {broken: "RuntimeError: simulated failure"}
    assert summary["ok"] == cities_with_data[1:]
    for city in cities_with_data[1:]:
        assert next((home / "briefs").glob(f"*/{city}.en.html")).exists()
    index = next((home / "briefs").glob("*/index.html")).read_text(encoding="utf-8")
    assert "simulated failure" in index


def test_a_city_failing_in_the_process_pool_is_named_without_blocking_the_others(published_home, tmp_path, year,
                                                                                  cities_with_data):
    """A city whose file cannot be written (a directory where its brief goes) fails in its worker
    process; the pool renders every other city and the index names the failure."""
    home = home_with_the_warehouse(published_home, tmp_path)
    broken = cities_with_data[-1]
    (home / "briefs" / str(year) / f"{broken}.en.html.tmp").mkdir(parents=True)
    with pytest.raises(batch.BriefsFailed, match=broken):
        render_english_html(home, workers=2)
    summary = json.loads((home / "briefs" / str(year) / "index.json").read_text(encoding="utf-8"))
    assert list(summary["failed"]) == [broken] and "IsADirectoryError" in summary["failed"][broken]
    assert summary["ok"] == cities_with_data[:-1]
    assert sorted(html_files(home)) == [f"{city}.en.html" for city in cities_with_data[:-1]]


def test_a_rerun_with_nothing_changed_renders_nothing_and_says_so(published_home, tmp_path, year, cities_with_data):
    home = home_with_the_warehouse(published_home, tmp_path)
    env = environment(home, published_home / "feeds.yml") | {"CITYPEERS_BRIEF_WORKERS": "2"}
    command = [str(BIN / "citypeers"), "briefs", "--langs", "en", "--formats", "html"]
    first = run(command, env).stdout
    assert f"{len(cities_with_data)} city briefs rendered" in first
    written = {path: path.stat().st_mtime_ns for path in (home / "briefs").glob("*/*.en.html")}
    again = run(command, env).stdout
    assert "0 city briefs rendered" in again and "(nothing changed)" in again
    assert f"{len(cities_with_data)} unchanged" in again
    assert {path: path.stat().st_mtime_ns for path in written} == written, "an unchanged brief was rewritten"
    summary = json.loads((home / "briefs" / str(year) / "index.json").read_text(encoding="utf-8"))
    assert summary["ok"] == [] and sorted(summary["unchanged"]) == cities_with_data and summary["failed"] == {}
    index = (home / "briefs" / str(year) / "index.html").read_text(encoding="utf-8")
    assert index.count("unchanged since") == len(cities_with_data)
    forced = run([*command, "--force"], env).stdout
    assert f"{len(cities_with_data)} city briefs rendered" in forced and "0 unchanged" in forced


def test_a_change_in_one_citys_marts_rerenders_exactly_that_city(published_home, tmp_path, year, cities_with_data):
    home = home_with_the_warehouse(published_home, tmp_path)
    render_english_html(home)
    with duckdb.connect(str(home / "warehouse" / "citypeers.duckdb")) as con:
        con.execute("update fct_city_indicator_annual set source_ref = 'revised-reference' "
                    "where city_id = ? and year = ?", [EUROPEAN, year])
    summary = render_english_html(home)
    assert summary["ok"] == [EUROPEAN]
    assert sorted(summary["unchanged"]) == sorted(set(cities_with_data) - {EUROPEAN})
    assert "revised-reference" in (home / "briefs" / str(year) / f"{EUROPEAN}.en.html").read_text(encoding="utf-8")


def test_a_change_in_a_similar_citys_value_rerenders_the_cities_that_show_it(published_home, tmp_path, year):
    """A city's brief shows its similar cities' values (the rank chart): a change there re-renders the
    city that changed and every city that has it as a similar city, and no other."""
    home = home_with_the_warehouse(published_home, tmp_path)
    render_english_html(home)
    with duckdb.connect(str(home / "warehouse" / "citypeers.duckdb")) as con:
        changed, code = con.execute("""
            select b.city_id, b.indicator_code from fct_city_benchmark as b
            where b.year = ? and b.is_valid and b.city_id in (select peer_city_id from fct_city_peers)
            order by 1, 2 limit 1""", [year]).fetchone()
        showing = {row[0] for row in con.execute(
            "select city_id from fct_city_peers where peer_city_id = ?", [changed]).fetchall()}
        con.execute("update fct_city_benchmark set value = value * 1.5 where city_id = ? and indicator_code = ? "
                    "and year = ?", [changed, code, year])
    summary = render_english_html(home)
    with_data = {r["city_id"] for r in rows(published_home, "select distinct city_id from fct_city_benchmark")}
    assert showing, f"no city has {changed} as a similar city"
    assert set(summary["ok"]) == ({changed} | showing) & with_data


def test_the_process_pool_renders_the_same_files_as_one_process(published_home, tmp_path, cities_with_data):
    home = home_with_the_warehouse(published_home, tmp_path)
    render_english_html(home, workers=1)
    alone = html_files(home)
    summary = render_english_html(home, workers=2, force=True)
    assert summary["run"]["workers"] == 2 and sorted(summary["ok"]) == cities_with_data
    assert sorted(alone) == [f"{city}.en.html" for city in cities_with_data]
    assert html_files(home) == alone
