"""Render every city's brief and the index page: what `report__city_briefs` and `citypeers briefs` run.

Each city is rendered on its own and leaves a status file (`status/<city>.json`: ok, or failed
with the error), so one city's failure never stops the others and the index says which failed.
A city without any benchmarked value gets no brief; the index lists it as having no data.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from citypeers import paths
from citypeers.benchmarking import open_serving
from citypeers.briefs.content import brief_cities, latest_year, published_at, read_brief
from citypeers.briefs.i18n import LANGUAGES
from citypeers.briefs.render import FORMATS, _environment, write_files
from citypeers.errors import CitypeersError

log = logging.getLogger(__name__)


class BriefsFailed(CitypeersError):
    """Some cities' briefs could not be rendered (the others were, and the index says which)."""


def status_file(year: int, city_id: str) -> Path:
    return paths.briefs_dir(year) / "status" / f"{city_id}.json"


def plan(year: int | None = None, database: Path | None = None) -> dict[str, Any]:
    """The year to render (default: the warehouse's latest) and the cities with a value in the warehouse."""
    with open_serving(database) as con:
        year = year if year is not None else latest_year(con)
        cities = brief_cities(con)
    if year is None:
        raise CitypeersError("the serving warehouse holds no benchmarked value yet: nothing to brief")
    return {"year": int(year), "city_ids": [c["city_id"] for c in cities if c["has_values"]],
            "started_at": datetime.now(UTC).isoformat(timespec="seconds")}


def render_city(city_id: str, year: int, langs: list[str] | None = None, formats: list[str] | None = None,
                database: Path | None = None, show_native: bool = True) -> dict[str, Any]:
    """One city's briefs in every language and format, with a status file whether it worked or not."""
    langs, formats = langs or list(LANGUAGES), formats or list(FORMATS)
    started = time.monotonic()
    status: dict[str, Any] = {"city_id": city_id, "year": year, "langs": langs, "formats": formats}
    try:
        database = database or paths.serving_db()
        with open_serving(database) as con:
            brief = read_brief(con, city_id, year, database)
        targets = {(lang, fmt): paths.brief_file(year, city_id, lang, fmt) for lang in langs for fmt in formats}
        written = write_files(brief, langs, formats, targets, show_native)
        status |= {"status": "ok", "files": [path.name for path in written], "has_values": brief.has_values}
    except Exception as error:
        status |= {"status": "failed", "error": f"{type(error).__name__}: {error}",
                   "traceback": traceback.format_exc(limit=5)}
        raise
    finally:
        status |= {"rendered_at": datetime.now(UTC).isoformat(timespec="seconds"),
                   "seconds": round(time.monotonic() - started, 2)}
        target = status_file(year, city_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(status, indent=2), encoding="utf-8")
    return status


def write_index(year: int, city_ids: list[str], started_at: str, database: Path | None = None) -> dict[str, Any]:
    """The index page of a year's briefs (one per language) and index.json: which cities rendered in
    this run, which failed and why, which have no data, and when."""
    database = database or paths.serving_db()
    with open_serving(database) as con:
        cities = brief_cities(con)
    started = datetime.fromisoformat(started_at)
    rows = []
    for city in cities:
        status = {}
        if status_file(year, city["city_id"]).exists():
            status = json.loads(status_file(year, city["city_id"]).read_text(encoding="utf-8"))
        fresh = bool(status) and datetime.fromisoformat(status["rendered_at"]) >= started
        if city["city_id"] not in city_ids:
            state = "no_data"
        elif not fresh:
            state = "not_rendered"
        else:
            state = status["status"]
        rows.append(city | {"state": state, "error": status.get("error") if state == "failed" else None,
                            "rendered_at": status.get("rendered_at"),
                            "files": status.get("files", []) if state == "ok" else []})
    summary = {
        "year": year, "rendered_at": datetime.now(UTC).isoformat(timespec="seconds"), "run_started_at": started_at,
        "warehouse_published_at": published_at(database).isoformat(timespec="seconds"),
        "ok": [r["city_id"] for r in rows if r["state"] == "ok"],
        "failed": {r["city_id"]: r["error"] for r in rows if r["state"] == "failed"},
        "not_rendered": [r["city_id"] for r in rows if r["state"] == "not_rendered"],
        "no_data": [r["city_id"] for r in rows if r["state"] == "no_data"],
    }
    out = paths.briefs_dir(year)
    out.mkdir(parents=True, exist_ok=True)
    for lang in LANGUAGES:
        from citypeers.briefs.i18n import language

        environment = _environment().overlay()
        environment.install_gettext_translations(language(lang).translations, newstyle=True)
        html = environment.get_template("index.html.j2").render(
            lang=lang, year=year, rows=rows, summary=summary, languages=list(LANGUAGES),
            rendered_at=language(lang).datetime(datetime.fromisoformat(summary["rendered_at"]).replace(tzinfo=None)),
            published=language(lang).datetime(published_at(database).replace(tzinfo=None)))
        (out / ("index.html" if lang == "en" else f"index.{lang}.html")).write_text(html, encoding="utf-8")
    (out / "index.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    log.info("briefs %s: %d ok, %d failed, %d not rendered, %d without data; index %s", year, len(summary["ok"]),
             len(summary["failed"]), len(summary["not_rendered"]), len(summary["no_data"]), out / "index.html")
    return summary | {"index": str(out / "index.html")}


def render_all(year: int | None = None, langs: list[str] | None = None, formats: list[str] | None = None,
               database: Path | None = None, show_native: bool = True, limit: int | None = None) -> dict[str, Any]:
    """`citypeers briefs`: every city with data (or the first `limit` of them, which the index then
    lists the others as not rendered), one after the other, then the index; fails at the end (index
    written) when a city failed."""
    planned = plan(year, database)
    for city_id in planned["city_ids"][:limit]:
        try:
            render_city(city_id, planned["year"], langs, formats, database, show_native)
        except Exception:
            log.exception("brief of %s failed; going on with the other cities", city_id)
    summary = write_index(planned["year"], planned["city_ids"], planned["started_at"], database)
    if summary["failed"]:
        raise BriefsFailed(f"{len(summary['failed'])} of {len(planned['city_ids'])} briefs failed "
                           f"({', '.join(summary['failed'])}); the others are in {summary['index']}")
    return summary
