"""Render every city's brief and the index page: what `report__city_briefs` and `citypeers briefs` run.

Each city is rendered on its own and leaves a status file (`status/<city>.json`: ok, or failed
with the error), so one city's failure never stops the others and the index says which failed.
A city without any benchmarked value gets no brief; the index lists it as having no data.

After a publish most cities' briefs would come out the same, so each city has a fingerprint of
what its brief reads (`fingerprints`: the warehouse rows, the code and catalogues, the languages
and formats) kept in its status file; a city whose fingerprint and files are unchanged is not
rendered again and the index says "unchanged since" its last render (`force` renders all). The
cities to render go to a pool of processes (CITYPEERS_BRIEF_WORKERS, default the CPU count), each
with one read-only connection to the warehouse for all its cities.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from citypeers import paths
from citypeers.benchmarking import open_serving
from citypeers.briefs.content import brief_cities, latest_year, published_at, read_brief
from citypeers.briefs.i18n import LANGUAGES, PACKAGE_DIR
from citypeers.briefs.render import FORMATS, _environment, write_files
from citypeers.errors import CitypeersError

log = logging.getLogger(__name__)

PROGRESS_EVERY = 20
"""A progress line every this many cities (and after the last)."""


class BriefsFailed(CitypeersError):
    """Some cities' briefs could not be rendered (the others were, and the index says which)."""


def status_file(year: int, city_id: str) -> Path:
    return paths.briefs_dir(year) / "status" / f"{city_id}.json"


def brief_workers() -> int:
    """$CITYPEERS_BRIEF_WORKERS, or the CPU count: the processes that render briefs side by side."""
    return max(1, int(os.environ.get("CITYPEERS_BRIEF_WORKERS") or os.cpu_count() or 1))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def plan(year: int | None = None, database: Path | None = None) -> dict[str, Any]:
    """The year to render (default: the warehouse's latest) and the cities with a value in the warehouse."""
    with open_serving(database) as con:
        year = year if year is not None else latest_year(con)
        cities = brief_cities(con)
    if year is None:
        raise CitypeersError("the serving warehouse holds no benchmarked value yet: nothing to brief")
    return {"year": int(year), "city_ids": [c["city_id"] for c in cities if c["has_values"]],
            "started_at": _now()}


def code_version() -> str:
    """A hash of everything besides the warehouse that shapes a brief: the package's code, templates,
    catalogues and native names. A change to any of them renders every city again."""
    digest = hashlib.md5(usedforsecurity=False)
    for path in sorted(PACKAGE_DIR.rglob("*")):
        if path.is_file() and path.suffix in {".py", ".j2", ".css", ".po", ".csv"}:
            digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _table_columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    return {row[0] for row in con.execute(
        "select column_name from information_schema.columns where table_name = ?", [table]).fetchall()}


# Each city's own rows of the marts its brief reads, one hash per mart (whole rows: a column the
# brief does not show re-renders the city, which is safe).
OWN_ROWS_SQL = """
    select city_id, '{table}' as part, md5(string_agg(t::varchar, '|' order by t::varchar)) as digest
    from {table} as t group by city_id"""
OWN_MARTS = ["dim_city", "dim_city_peer_group", "fct_city_benchmark", "fct_city_scores", "fct_city_peers",
             "fct_learning_opportunities", "fct_city_indicator_annual"]

# What a brief shows of other cities' rows: its similar cities' values that year and context, the
# scores of its peer group (their median), the practices of the peers it learns from, and the
# health of the feeds behind its values.
OTHERS_SQL = """
    select p.city_id, 'similar cities values' as part,
           md5(string_agg(concat_ws('/', b.city_id, b.city_name, b.indicator_code, b.value, b.is_valid), '|'
                          order by b.city_id, b.indicator_code)) as digest
    from fct_city_peers as p inner join fct_city_benchmark as b on p.peer_city_id = b.city_id and b.year = $year
    group by p.city_id
    union all
    select p.city_id, 'similar cities context',
           md5(string_agg(o::varchar, '|' order by o.city_id))
    from fct_city_peers as p inner join dim_city as o on p.peer_city_id = o.city_id
    group by p.city_id
    union all
    select g.city_id, 'peer group scores',
           md5(string_agg(concat_ws('/', s.city_id, s.domain, s.score), '|' order by s.city_id, s.domain))
    from dim_city_peer_group as g
    inner join dim_city_peer_group as m on g.peer_group_id = m.peer_group_id
    inner join fct_city_scores as s on m.city_id = s.city_id and s.year = $year
    group by g.city_id
    union all
    select a.city_id, 'feed health', md5(string_agg(h::varchar, '|' order by h.feed_id))
    from (select distinct city_id, trim(unnest(string_split(feed_ids, ','))) as feed_id
          from fct_city_indicator_annual where year = $year) as a
    inner join fct_feed_health as h on a.feed_id = h.feed_id
    group by a.city_id"""

PRACTICES_SQL = """
    select city_id, 'practices', md5(string_agg(t::varchar, '|' order by t::varchar))
    from (select o.city_id, p as t from (select distinct city_id, peer_city_id from fct_learning_opportunities) as o
          inner join fct_practice_impact as p on o.peer_city_id = p.city_id
          union all
          select p.city_id, p from fct_practice_impact as p)
    group by city_id"""


def fingerprints(con: duckdb.DuckDBPyConnection, year: int, version: str) -> dict[str, str]:
    """Per city, a hash of every warehouse row its brief for `year` reads and of `version` (code,
    catalogues, languages, formats): equal fingerprints give the same brief. One query over all
    cities, in DuckDB."""
    parts = [OWN_ROWS_SQL.format(table=table) for table in OWN_MARTS] + [OTHERS_SQL]
    if _table_columns(con, "fct_practice_impact"):
        parts.append(PRACTICES_SQL)
    shared = " || ".join(f"(select coalesce(md5(string_agg(t::varchar, '|' order by t::varchar)), '') "
                         f"from {table} as t)" for table in ("dim_indicator", "dim_indicator_target"))
    rows = con.execute(f"""
        with parts as ({" union all ".join(parts)})
        select city_id, md5(concat_ws('|', $version, $year, {shared},
                                      string_agg(part || ':' || digest, '|' order by part)))
        from parts group by city_id""", {"year": year, "version": version}).fetchall()
    return dict(rows)


def _targets(city_id: str, year: int, langs: list[str], formats: list[str]) -> dict[tuple[str, str], Path]:
    return {(lang, fmt): paths.brief_file(year, city_id, lang, fmt) for lang in langs for fmt in formats}


def _write_status(year: int, city_id: str, status: dict[str, Any]) -> None:
    target = status_file(year, city_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".tmp")
    partial.write_text(json.dumps(status, indent=2), encoding="utf-8")
    partial.replace(target)


def _read_status(year: int, city_id: str) -> dict[str, Any]:
    path = status_file(year, city_id)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def render_city(city_id: str, year: int, langs: list[str] | None = None, formats: list[str] | None = None,
                database: Path | None = None, show_native: bool = True, fingerprint: str | None = None,
                con: duckdb.DuckDBPyConnection | None = None) -> dict[str, Any]:
    """One city's briefs in every language and format, with a status file whether it worked or not
    (holding the fingerprint of what it was rendered from). `con`: an open read-only connection to
    reuse (a batch opens one per process)."""
    langs, formats = langs or list(LANGUAGES), formats or list(FORMATS)
    started = time.monotonic()
    status: dict[str, Any] = {"city_id": city_id, "year": year, "langs": langs, "formats": formats,
                              "fingerprint": fingerprint, "unchanged": False}
    try:
        database = database or paths.serving_db()
        if con is None:
            with open_serving(database) as own:
                brief = read_brief(own, city_id, year, database)
        else:
            brief = read_brief(con, city_id, year, database)
        written = write_files(brief, langs, formats, _targets(city_id, year, langs, formats), show_native)
        status |= {"status": "ok", "files": [path.name for path in written], "has_values": brief.has_values}
    except Exception as error:
        status |= {"status": "failed", "error": f"{type(error).__name__}: {error}",
                   "traceback": traceback.format_exc(limit=5), "fingerprint": None}
        raise
    finally:
        status |= {"rendered_at": _now(), "seconds": round(time.monotonic() - started, 2)}
        status["checked_at"] = status["rendered_at"]
        _write_status(year, city_id, status)
    return status


def _is_unchanged(city_id: str, year: int, fingerprint: str | None, langs: list[str], formats: list[str]) -> bool:
    status = _read_status(year, city_id)
    return (fingerprint is not None and status.get("status") == "ok" and status.get("fingerprint") == fingerprint
            and all(path.exists() for path in _targets(city_id, year, langs, formats).values()))


def _mark_unchanged(city_id: str, year: int) -> None:
    _write_status(year, city_id, _read_status(year, city_id) | {"unchanged": True, "checked_at": _now()})


_worker_connection: duckdb.DuckDBPyConnection | None = None


def _open_worker_connection(database: str) -> None:
    """Pool initializer: one read-only connection for every city this process renders."""
    global _worker_connection
    _worker_connection = open_serving(Path(database))


def _render_in_worker(city_id: str, year: int, langs: list[str], formats: list[str], database: str,
                      show_native: bool, fingerprint: str | None) -> dict[str, Any]:
    try:
        return render_city(city_id, year, langs, formats, Path(database), show_native, fingerprint,
                           con=_worker_connection)
    except Exception as error:
        return {"city_id": city_id, "status": "failed", "error": f"{type(error).__name__}: {error}"}


def render_cities(year: int, city_ids: list[str], langs: list[str] | None = None, formats: list[str] | None = None,
                  database: Path | None = None, show_native: bool = True, force: bool = False,
                  workers: int | None = None) -> dict[str, Any]:
    """Render the cities whose brief inputs changed (all with `force`), `workers` at a time, logging
    progress; a city that fails is logged and counted, never stops the others."""
    langs, formats = langs or list(LANGUAGES), formats or list(FORMATS)
    database = database or paths.serving_db()
    workers = workers or brief_workers()
    version = code_version() + json.dumps([langs, formats, show_native])
    started = time.monotonic()
    with open_serving(database) as con:
        prints = fingerprints(con, year, version)
    todo = [c for c in city_ids if force or not _is_unchanged(c, year, prints.get(c), langs, formats)]
    unchanged = [c for c in city_ids if c not in todo]
    for city_id in unchanged:
        _mark_unchanged(city_id, year)
    checked = round(time.monotonic() - started, 2)
    log.info("briefs %s: %d of %d cities changed since their last brief (%s), %d unchanged; fingerprints in %.2f s",
             year, len(todo), len(city_ids), "forced" if force else "by fingerprint", len(unchanged), checked)
    outcome = {"rendered": [], "unchanged": unchanged, "failed": {}, "workers": workers,
               "fingerprint_seconds": checked}

    def progress(status: dict[str, Any]) -> None:
        if status.get("status") == "ok":
            outcome["rendered"].append(status["city_id"])
        else:
            outcome["failed"][status["city_id"]] = status.get("error")
            log.error("brief of %s failed (%s); going on with the other cities", status["city_id"], status.get("error"))
        done = len(outcome["rendered"]) + len(outcome["failed"])
        if done % PROGRESS_EVERY == 0 or done == len(todo):
            log.info("rendered %s of %s cities, %s unchanged, %s failed", f"{len(outcome['rendered']):,}",
                     f"{len(todo):,}", f"{len(unchanged):,}", f"{len(outcome['failed']):,}")

    if workers == 1 or len(todo) <= 1:
        with open_serving(database) as con:
            for city_id in todo:
                try:
                    progress(render_city(city_id, year, langs, formats, database, show_native, prints.get(city_id),
                                         con=con))
                except Exception as error:
                    log.debug("brief of %s failed", city_id, exc_info=True)
                    progress({"city_id": city_id, "status": "failed", "error": f"{type(error).__name__}: {error}"})
    else:
        # spawn, not fork: the parent may hold DuckDB and vl-convert threads, which a fork does not copy safely.
        with ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_open_worker_connection, initargs=(str(database),)) as pool:
            futures = {pool.submit(_render_in_worker, city_id, year, langs, formats, str(database), show_native,
                                   prints.get(city_id)): city_id for city_id in todo}
            for future in as_completed(futures):
                try:
                    progress(future.result())
                except Exception as error:  # a worker that died (out of memory, a crash) fails its cities
                    progress({"city_id": futures[future], "status": "failed",
                              "error": f"{type(error).__name__}: {error}"})
    outcome["seconds"] = round(time.monotonic() - started, 2)
    return outcome


def write_index(year: int, city_ids: list[str], started_at: str, database: Path | None = None) -> dict[str, Any]:
    """The index page of a year's briefs (one per language) and index.json: which cities rendered in
    this run, which were unchanged (and since when), which failed and why, which have no data."""
    database = database or paths.serving_db()
    with open_serving(database) as con:
        cities = brief_cities(con)
    started = datetime.fromisoformat(started_at)
    rows = []
    for city in cities:
        status = _read_status(year, city["city_id"])
        checked = status.get("checked_at") or status.get("rendered_at")
        fresh = bool(status) and checked is not None and datetime.fromisoformat(checked) >= started
        if city["city_id"] not in city_ids:
            state = "no_data"
        elif not fresh:
            state = "not_rendered"
        elif status.get("unchanged"):
            state = "unchanged"
        else:
            state = status["status"]
        rows.append(city | {"state": state, "error": status.get("error") if state == "failed" else None,
                            "rendered_at": status.get("rendered_at"),
                            "files": status.get("files", []) if state in ("ok", "unchanged") else []})
    summary = {
        "year": year, "rendered_at": _now(), "run_started_at": started_at,
        "warehouse_published_at": published_at(database).isoformat(timespec="seconds"),
        "ok": [r["city_id"] for r in rows if r["state"] == "ok"],
        "unchanged": {r["city_id"]: r["rendered_at"] for r in rows if r["state"] == "unchanged"},
        "failed": {r["city_id"]: r["error"] for r in rows if r["state"] == "failed"},
        "not_rendered": [r["city_id"] for r in rows if r["state"] == "not_rendered"],
        "no_data": [r["city_id"] for r in rows if r["state"] == "no_data"],
    }
    out = paths.briefs_dir(year)
    out.mkdir(parents=True, exist_ok=True)
    for lang in LANGUAGES:
        from citypeers.briefs.i18n import language

        words = language(lang)
        for row in rows:
            row["since"] = words.datetime(datetime.fromisoformat(row["rendered_at"]).replace(tzinfo=None)) \
                if row["state"] == "unchanged" else None
        environment = _environment().overlay()
        environment.install_gettext_translations(words.translations, newstyle=True)
        html = environment.get_template("index.html.j2").render(
            lang=lang, year=year, rows=rows, summary=summary, languages=list(LANGUAGES),
            rendered_at=words.datetime(datetime.fromisoformat(summary["rendered_at"]).replace(tzinfo=None)),
            published=words.datetime(published_at(database).replace(tzinfo=None)))
        (out / ("index.html" if lang == "en" else f"index.{lang}.html")).write_text(html, encoding="utf-8")
    (out / "index.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    log.info("briefs %s: %d rendered, %d unchanged, %d failed, %d not rendered, %d without data; index %s", year,
             len(summary["ok"]), len(summary["unchanged"]), len(summary["failed"]), len(summary["not_rendered"]),
             len(summary["no_data"]), out / "index.html")
    return summary | {"index": str(out / "index.html")}


def render_all(year: int | None = None, langs: list[str] | None = None, formats: list[str] | None = None,
               database: Path | None = None, show_native: bool = True, limit: int | None = None,
               force: bool = False, workers: int | None = None) -> dict[str, Any]:
    """`citypeers briefs`: every city with data whose brief inputs changed (or the first `limit` of
    them; the index lists the others as not rendered), then the index; fails at the end (index
    written) when a city failed."""
    planned = plan(year, database)
    outcome = render_cities(planned["year"], planned["city_ids"][:limit], langs, formats, database, show_native,
                            force, workers)
    summary = write_index(planned["year"], planned["city_ids"], planned["started_at"], database)
    summary |= {"run": outcome}
    if summary["failed"]:
        raise BriefsFailed(f"{len(summary['failed'])} of {len(planned['city_ids'])} briefs failed "
                           f"({', '.join(summary['failed'])}); the others are in {summary['index']}")
    return summary
