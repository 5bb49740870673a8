"""The brief's sentences and cells in one language, from the marts' rows (content.Brief).

Sentences are composed here from the marts' structured columns (values, flags, counts, years)
rather than copied from the marts' English one-liners, so that every language says the same
thing with the same figures. Where a mart holds free text with no structure behind it (a
completeness note naming a station, a practice's grade reason), the brief shows it as written,
marked as English, next to the translated sentence.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from citypeers.briefs import charts
from citypeers.briefs.content import Brief
from citypeers.briefs.i18n import (
    CLIMATE_ZONES,
    CONTEXT_NAMES,
    DOMAIN_NAMES,
    EVIDENCE_GRADES,
    FEED_HEALTH,
    INCOME_GROUPS,
    N_,
    PACKAGE_DIR,
    SIZE_CLASSES,
    TRAFFIC_LIGHTS,
    Language,
)

SIMILAR_ON = {
    "similar size": N_("similar size (%(city)s vs %(peer)s residents)"),
    "similar density": N_("similar density (%(city)s vs %(peer)s residents per km²)"),
    "similar income": N_("similar income (GDP per capita %(city)s vs %(peer)s, PPP)"),
    "same climate": N_("same climate (%(climate)s)"),
    "same region": N_("same region (%(region)s)"),
    "nearest match": N_("nearest match on the context known for both cities"),
}
"""The words of fct_city_peers.similar_on, each with the figures that back it."""


@cache
def native_names() -> dict[str, tuple[str, str]]:
    """city_id -> (name in the city's own script, BCP 47 language tag), for the cities we know it of."""
    with (PACKAGE_DIR / "native_names.csv").open(encoding="utf-8") as handle:
        return {row["city_id"]: (row["native_name"], row["lang"]) for row in csv.DictReader(handle)}


@dataclass
class Caveat:
    number: int
    indicator: str
    text: str
    note: str | None = None


@dataclass
class DomainView:
    code: str
    name: str
    indicators: list[dict[str, Any]] = field(default_factory=list)
    chart_svg: str = ""
    opportunities: list[dict[str, Any]] = field(default_factory=list)
    practices: list[dict[str, Any]] = field(default_factory=list)


def _caveat_text(row: dict[str, Any], lang: Language) -> str:
    """Why a value is flagged, from the mart's columns: what a reader needs to weigh it."""
    flag = row["quality_flag"]
    if flag == "below_completeness_rule":
        return lang.gettext(
            "Incomplete year: %(meeting)s of %(stations)s station(s) meet the completeness rule "
            "(%(share)s of days valid on average). Shown, but left out of ranks, medians and trends."
        ) % {"meeting": row["stations_meeting_rule"] if row["stations_meeting_rule"] is not None else "–",
             "stations": row["station_count"] if row["station_count"] is not None else "–",
             "share": lang.percent(row["valid_day_share"])}
    if flag == "context_from_other_year":
        return lang.gettext(
            "Divided by the %(context)s of %(context_year)s, the nearest year with a figure. Shown, but left "
            "out of ranks, medians and trends."
        ) % {"context": lang.vocabulary(CONTEXT_NAMES, row["normalised_by"]),
             "context_year": row["context_year"] if row["context_year"] is not None else "–"}
    return lang.gettext("Flagged by the pipeline (%(flag)s). Shown, but left out of ranks, medians and trends."
                        ) % {"flag": flag}


def _trend_text(row: dict[str, Any], lang: Language, unit: str) -> str:
    if not row["is_valid"]:
        return lang.gettext("not computed (flagged year)")
    slope = row["trend_slope_per_year"]
    if slope is None:
        return lang.gettext("no trend yet (fewer than 3 valid years)")
    if Language.rounds_to_zero(slope):
        return lang.gettext("flat")
    direction = lang.gettext("improving") if (row["trend_improvement_per_year"] or 0) > 0 else lang.gettext(
        "worsening")
    return lang.gettext("%(slope)s %(unit)s a year, %(direction)s") % {
        "slope": lang.signed(slope), "unit": unit, "direction": direction}


def _ladder(row: dict[str, Any], lang: Language, unit: str, has_targets: bool) -> dict[str, str]:
    if not has_targets:
        return {"met": lang.gettext("no target set"), "next": "", "when": ""}
    met = lang.word(row["highest_target_met_name"]) if row["highest_target_met_name"] else lang.gettext(
        "none met yet")
    if not row["next_target"]:
        return {"met": met, "next": lang.gettext("every target met"), "when": ""}
    following = lang.gettext("%(target)s (%(threshold)s %(unit)s)") % {
        "target": lang.word(row["next_target_name"] or row["next_target"]),
        "threshold": lang.number(row["next_target_threshold"]), "unit": unit}
    if row["years_to_next_target"] is not None:
        when = lang.gettext("about %(years)s years at the current trend") % {
            "years": lang.number(row["years_to_next_target"], 1)}
    elif not row["is_valid"]:
        when = lang.gettext("not estimated (flagged year)")
    elif row["trend_slope_per_year"] is None:
        when = lang.gettext("not estimated (no trend yet)")
    else:
        when = lang.gettext("not reached at the current trend")
    return {"met": met, "next": following, "when": when}


def _similar_because(peer: dict[str, Any], lang: Language) -> str:
    words = [word.strip() for word in (peer["similar_on"] or "").split(",") if word.strip()]
    figures = {
        "similar size": (peer["city_population"], peer["peer_population"]),
        "similar density": (peer["city_density"], peer["peer_density"]),
        "similar income": (peer["city_gdp"], peer["peer_gdp"]),
    }
    parts = []
    for word in words:
        if word not in SIMILAR_ON:
            parts.append(word)
            continue
        city, other = figures.get(word, (None, None))
        parts.append(lang.word(SIMILAR_ON[word]) % {
            "city": lang.compact(city), "peer": lang.compact(other),
            "climate": lang.vocabulary(CLIMATE_ZONES, peer["peer_climate"]),
            "region": lang.word(peer["peer_region"] or "")})
    return "; ".join(parts)


def _opportunity_text(row: dict[str, Any], lang: Language) -> str:
    unit = lang.word(row["unit_label"] or row["unit"] or "")
    if row["opportunity_type"] == "does_better":
        return lang.gettext("%(peer_value)s %(unit)s against your %(city_value)s in %(year)s") % {
            "peer_value": lang.number(row["peer_value"]), "unit": unit,
            "city_value": lang.number(row["city_value"]), "year": row["year"]}
    own = row["city_trend_slope_per_year"]
    own_text = lang.gettext("fewer than 3 valid years") if own is None else (
        lang.gettext("flat") if Language.rounds_to_zero(own) else lang.gettext(
            "%(slope)s a year") % {"slope": lang.signed(own)})
    template = (N_("cut it by %(rate)s %(unit)s a year over %(points)s valid years to %(year)s "
                   "(your trend: %(own)s)") if row["direction"] == "lower_is_better" else
                N_("raised it by %(rate)s %(unit)s a year over %(points)s valid years to %(year)s "
                   "(your trend: %(own)s)"))
    return lang.gettext(template) % {
        "rate": lang.number(abs(row["peer_trend_slope_per_year"] or 0)),
        "unit": unit, "points": row["peer_trend_point_count"], "year": row["year"], "own": own_text}


def _effect_text(practice: dict[str, Any], lang: Language) -> str:
    if practice["effect_pct"] is None:
        return lang.gettext("no effect estimated")
    interval = ""
    if practice["effect_pct_lower"] is not None and practice["effect_pct_upper"] is not None:
        interval = " " + lang.gettext("(%(lower)s%% to %(upper)s%%)") % {
            "lower": lang.signed(practice["effect_pct_lower"], 0),
            "upper": lang.signed(practice["effect_pct_upper"], 0)}
    return lang.gettext("%(effect)s%% on %(indicator)s") % {
        "effect": lang.signed(practice["effect_pct"], 0),
        "indicator": lang.word(practice["indicator_name"] or practice["indicator_code"])} + interval


def _feeds(brief: Brief, lang: Language, label_of: dict[str, str]) -> list[dict[str, Any]]:
    """Each feed behind the year's values: what it delivered, its references, when it was last fetched."""
    delivered: dict[str, list[dict[str, Any]]] = {}
    for row in brief.sources:
        for feed in (row["feed_ids"] or "").split(","):
            delivered.setdefault(feed.strip(), []).append(row)
    feeds = []
    for row in brief.feeds:
        rows = delivered.get(row["feed_id"], [])
        references = list(dict.fromkeys(r["source_ref"] for r in rows if r["source_ref"]))
        shown = "; ".join(references[:2]) + (
            " " + lang.gettext("(and %(count)s more)") % {"count": len(references) - 2} if len(references) > 2 else "")
        feeds.append({
            "feed": row["feed_id"], "source": row["source_name"], "latest_period": row["latest_period"],
            "indicators": ", ".join(dict.fromkeys(label_of.get(r["indicator_code"], r["indicator_code"])
                                                  for r in rows)),
            "references": shown,
            "first_run": lang.date(row["first_run_at"]), "last_run": lang.datetime(row["last_run_at"]),
            "health": lang.vocabulary(FEED_HEALTH, row["health_status"]),
            "quarantined": lang.number(row["quarantined_row_count"] or 0, 0),
        })
    return feeds


def city_heading(brief: Brief, lang: Language, show_native: bool) -> dict[str, Any]:
    city = brief.city
    native = native_names().get(city["city_id"]) if show_native else None
    size = lang.vocabulary(SIZE_CLASSES, city.get("population_size_class"))
    income = lang.vocabulary(INCOME_GROUPS, city.get("peer_income_group"))
    return {
        "name": city["city_name"] or city["city_id"],
        "native_name": native[0] if native and native[0] != city["city_name"] else None,
        "native_lang": native[1] if native else None,
        "country": lang.country(city.get("country_iso3"), city.get("country_name")),
        "peer_group": lang.gettext("%(size)s, %(income)s") % {"size": size, "income": income},
        "peer_group_count": city.get("peer_group_city_count"),
    }


def build_view(brief: Brief, lang: Language, show_native: bool = True) -> dict[str, Any]:
    """Every cell and sentence of the brief in one language (the template only lays them out)."""
    label_of = {}
    domains: dict[str, DomainView] = {}
    caveats: list[Caveat] = []
    ladders = {row["indicator_code"] for row in brief.targets}
    for row in brief.indicators:
        unit = lang.word(row["unit_label"] or row["unit"] or "")
        name = lang.word(row["indicator_name"] or row["indicator_code"])
        label_of[row["indicator_code"]] = name
        caveat = None
        if not row["is_valid"]:
            caveat = Caveat(len(caveats) + 1, name, _caveat_text(row, lang), row["quality_note"])
            caveats.append(caveat)
        similar_rank = (lang.gettext("%(rank)d of %(count)d") % {"rank": row["similar_cities_rank"],
                                                                   "count": row["similar_cities_valid_count"]}
                        if row["similar_cities_rank"] is not None else
                        lang.gettext("not ranked (flagged)") if not row["is_valid"] else "–")
        domain = domains.setdefault(row["domain"], DomainView(row["domain"],
                                                              lang.vocabulary(DOMAIN_NAMES, row["domain"])))
        domain.indicators.append({
            "code": row["indicator_code"], "label": name, "unit": unit, "value": lang.number(row["value"]),
            "is_valid": row["is_valid"], "caveat": caveat.number if caveat else None,
            "direction": lang.gettext("lower is better") if row["direction"] == "lower_is_better"
            else lang.gettext("higher is better"),
            "peer_median": lang.number(row["peer_group_median"]),
            "peer_count": row["peer_group_valid_count"] or 0,
            "similar_rank": similar_rank,
            "light": row["traffic_light"], "light_text": lang.vocabulary(TRAFFIC_LIGHTS, row["traffic_light"])
            if row["traffic_light"] else lang.gettext("no thresholds"),
            "ladder": _ladder(row, lang, unit, row["indicator_code"] in ladders),
            "trend": _trend_text(row, lang, unit),
        })
    chart_rows = {code: [] for code in domains}
    for row in brief.indicators:
        chart_rows[row["domain"]].append(dict(row, label=label_of[row["indicator_code"]]))
    for code, domain in domains.items():
        domain.chart_svg = charts.domain_chart(chart_rows[code], brief.trend_points, brief.targets,
                                               brief.own_practices, brief.peer_values, lang)
    for row in brief.opportunities:
        domain = domains.setdefault(row["domain"], DomainView(row["domain"],
                                                              lang.vocabulary(DOMAIN_NAMES, row["domain"])))
        flagged = row["peer_quality_flag"] not in (None, "ok")
        indicator = lang.word(row["indicator_name"] or row["indicator_code"])
        if not domain.opportunities or domain.opportunities[-1]["indicator"] != indicator:
            domain.opportunities.append({"indicator": indicator, "does_better": [], "improved_fastest": []})
        domain.opportunities[-1][row["opportunity_type"]].append({
            "peer": row["peer_city_name"], "similarity": lang.percent(row["similarity"]),
            "text": _opportunity_text(row, lang),
            "caveat": lang.gettext("the peer's value that year is flagged (%(flag)s): evidence, not a rank") % {
                "flag": row["peer_quality_flag"]} if flagged else None,
        })
    for practice in brief.practices:
        domain = domains.get(practice["domain"])
        if domain is None:
            continue
        domain.practices.append({
            "peer": practice["city_id"], "title": practice["title"], "category": practice["category_name"],
            "since": lang.date(practice["start_date"]) if practice.get("start_date") else None,
            "effect": _effect_text(practice, lang),
            "grade": lang.vocabulary(EVIDENCE_GRADES, practice["evidence_grade"]),
            "grade_code": practice["evidence_grade"], "reason": practice["grade_reason"],
            "is_demo": bool(practice.get("is_demo")),
        })
    peer_names = {row["peer_city_id"]: row["peer_city_name"] for row in brief.peers}
    for domain in domains.values():
        for practice in domain.practices:
            practice["peer"] = peer_names.get(practice["peer"], practice["peer"])
    scores = [{
        "domain": lang.vocabulary(DOMAIN_NAMES, row["domain"]), "is_overall": row["score_level"] == "overall",
        "score": lang.number(row["score"], 0) if row["score"] is not None else None,
        "coverage": (lang.gettext("%(used)s of %(of)s indicators (%(share)s)") % {
            "used": row["indicator_count"], "of": row["scorable_indicator_count"],
            "share": lang.percent(row["coverage"])}) if row["score_level"] == "domain" else
        lang.gettext("%(used)s domains scored") % {"used": row["domain_count"]},
        "peer_median": lang.number(row["peer_group_median"], 0) if row["peer_group_median"] is not None else "–",
        "peer_count": row["peer_group_scored_count"],
        "difference": lang.signed(row["score"] - row["peer_group_median"], 0)
        if row["score"] is not None and row["peer_group_median"] is not None else "–",
    } for row in brief.scores]
    ordered = [domains[code] for code in brief.domains if code in domains] + [
        domain for code, domain in domains.items() if code not in brief.domains]
    return {
        "lang": lang.code,
        "city": city_heading(brief, lang, show_native),
        "year": brief.year,
        "has_values": brief.has_values,
        "demo_feeds": ", ".join(brief.demo_feeds),
        "years_with_values": ", ".join(str(y) for y in brief.years_with_values),
        "warehouse_date": lang.datetime(brief.warehouse_published_at.replace(tzinfo=None)) + " UTC",
        "warehouse_file": brief.warehouse_path.name,
        "scores": sorted(scores, key=lambda row: not row["is_overall"]),
        "domains": ordered,
        "caveats": caveats,
        "peers": [{
            "rank": peer["peer_rank"], "name": peer["peer_city_name"],
            "native_name": native_names().get(peer["peer_city_id"], (None, None))[0] if show_native else None,
            "native_lang": native_names().get(peer["peer_city_id"], (None, None))[1],
            "country": lang.country(peer["peer_country_iso3"], peer["peer_country_name"]),
            "similarity": lang.percent(peer["similarity"]), "because": _similar_because(peer, lang),
        } for peer in brief.peers],
        "has_practice_registry": brief.has_practice_registry,
        "feeds": _feeds(brief, lang, label_of),
    }
