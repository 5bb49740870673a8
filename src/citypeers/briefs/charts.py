"""The brief's small charts, as inline SVG: Vega-Lite specs built with altair, drawn by vl-convert.

One chart per domain, one row per indicator, two panels side by side: the city's trend over the
years against the targets either side of its value (the highest met and the next), flagged years
drawn hollow and left out of the line, the city's own practice starts marked; and its rank among
its similar cities that year (1 = best, flagged values left out, as in the marts). vl-convert
draws offline (no browser, no network) and formats the axes in the brief's locale; one drawing
per domain keeps its fixed cost (about 0.1 s) to six per brief.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import altair as alt
import vl_convert

from citypeers.briefs.i18n import Language, language

VEGA_LITE_VERSION = "_".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
FONT = "DejaVu Sans"
CITY_COLOUR = "#1f5fa8"
OTHER_COLOUR = "#9aa3ad"
MET_COLOUR = "#2e7d32"
NEXT_COLOUR = "#c25e00"
PRACTICE_COLOUR = "#7b1fa2"
TREND_WIDTH = 300
RANK_WIDTH = 170
ROW_HEIGHT = 40


def to_svg(spec: dict[str, Any], lang: Language, datasets: dict[str, list[dict[str, Any]]]) -> str:
    """A Vega-Lite spec drawn as an SVG element, numbers in the language's locale, with its rows
    given as named datasets."""
    svg = vl_convert.vegalite_to_svg(dict(spec, datasets=datasets), vl_version=VEGA_LITE_VERSION,
                                     format_locale=lang.bcp47)
    return svg[svg.index("<svg"):]


def rank_positions(values: Sequence[dict[str, Any]], direction: str) -> list[dict[str, Any]]:
    """Each city's rank among the cities given, 1 = best, ties sharing the best rank (as the marts rank)."""
    better = (lambda a, b: a < b) if direction == "lower_is_better" else (lambda a, b: a > b)
    return [dict(row, rank=1 + sum(better(other["value"], row["value"]) for other in values)) for row in values]


def _header(visible: bool) -> alt.Header:
    return alt.Header(title=None, labelAngle=0, labelAlign="left", labelAnchor="start", labelOrient="top",
                      labelFontSize=10, labelFontWeight="bold", labelPadding=2, labelLimit=TREND_WIDTH,
                      labelColor="#1d232b" if visible else "transparent")


def _trend_values(indicators, points, targets, practices, lang: Language) -> list[dict[str, Any]]:
    labels = {row["indicator_code"]: row["label"] for row in indicators}
    either_side = {row["indicator_code"]: (row.get("highest_target_met"), row.get("next_target")) for row in indicators}
    values = [{"label": labels[p["indicator_code"]], "year": p["year"], "value": p["value"], "layer": "value",
               "valid": bool(p["is_valid"])} for p in points if p["indicator_code"] in labels]
    for target in targets:
        code = target["indicator_code"]
        if code in labels and target["target_code"] in either_side[code]:
            values.append({"label": labels[code], "value": target["threshold"], "layer": "target",
                           "target": lang.word(target["target_name"]),
                           "met": target["target_code"] == either_side[code][0]})
    for practice in practices:
        start = practice.get("start_date")
        if practice["indicator_code"] in labels and start is not None:
            values.append({"label": labels[practice["indicator_code"]], "year": start.year, "layer": "practice"})
    return values


def _trend_panel(years: list[int], order: list[str], lang: Language) -> alt.FacetChart:
    """The trend rows, reading the named dataset 'trend'."""
    x = alt.X("year:O", title=None, scale=alt.Scale(domain=years), axis=alt.Axis(labelAngle=0))
    y = alt.Y("value:Q", title=None, scale=alt.Scale(zero=False), axis=alt.Axis(tickCount=3))
    target_colour = alt.Color("met:N", legend=None,
                              scale=alt.Scale(domain=[True, False], range=[MET_COLOUR, NEXT_COLOUR]))
    values_only = alt.Chart().transform_filter(alt.datum.layer == "value")
    targets_only = alt.Chart().transform_filter(alt.datum.layer == "target")
    layers = alt.layer(
        targets_only.mark_rule(strokeDash=[4, 3]).encode(y=y, color=target_colour),
        targets_only.mark_text(align="right", baseline="bottom", dy=-1, fontSize=8).encode(
            y=y, x=alt.value(TREND_WIDTH), text="target:N", color=target_colour),
        alt.Chart().transform_filter(alt.datum.layer == "practice").mark_rule(color=PRACTICE_COLOUR).encode(x=x),
        values_only.transform_filter(alt.datum.valid).mark_line(color=CITY_COLOUR).encode(x=x, y=y),
        values_only.mark_point(size=40, strokeWidth=1.5, color=CITY_COLOUR).encode(
            x=x, y=y, fill=alt.Fill("valid:N", legend=None,
                                    scale=alt.Scale(domain=[True, False], range=[CITY_COLOUR, "white"]))),
        data=alt.NamedData("trend"),
    ).properties(width=TREND_WIDTH, height=ROW_HEIGHT, title=alt.TitleParams(
        lang.gettext("Trend and targets"), anchor="start", fontSize=9, color="#445"))
    return layers.facet(row=alt.Row("label:N", header=_header(True), sort=order, title=None), spacing=8
                        ).resolve_scale(y="independent")


def _rank_values(indicators, peer_values, lang: Language) -> tuple[list[dict[str, Any]], int]:
    by_code: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in peer_values:
        by_code[row["indicator_code"]].append(row)
    values, most = [], 1
    for indicator in indicators:
        valid = [row for row in by_code.get(indicator["indicator_code"], []) if row["is_valid"]]
        if not indicator["is_valid"]:
            values.append({"label": indicator["label"], "note": lang.gettext("not ranked: flagged value")})
            continue
        if len(valid) < 2:
            values.append({"label": indicator["label"], "note": lang.gettext("no similar city with a value")})
            continue
        most = max(most, len(valid))
        for row in rank_positions(valid, indicator["direction"]):
            values.append({"label": indicator["label"], "rank": row["rank"], "is_city": bool(row["is_city"]),
                           "text": lang.gettext("%(rank)d of %(count)d") % {"rank": row["rank"], "count": len(valid)}
                           if row["is_city"] else None})
    return values, most


def _rank_panel(domain: list, ticks: list, order: list[str], lang: Language) -> alt.FacetChart:
    """The rank rows, reading the named dataset 'rank'."""
    x = alt.X("rank:Q", title=lang.gettext("1 = best"), scale=alt.Scale(domain=domain, nice=False),
              axis=alt.Axis(values=ticks, format="d", grid=False))
    layers = alt.layer(
        alt.Chart().transform_filter("isValid(datum.rank)").mark_circle(opacity=0.9).encode(
            x=x,
            color=alt.Color("is_city:N", legend=None,
                            scale=alt.Scale(domain=[True, False], range=[CITY_COLOUR, OTHER_COLOUR])),
            size=alt.Size("is_city:N", legend=None, scale=alt.Scale(domain=[True, False], range=[110, 40]))),
        alt.Chart().transform_filter("datum.is_city === true").mark_text(
            dy=-11, fontSize=9, color=CITY_COLOUR).encode(x=x, text="text:N"),
        alt.Chart().transform_filter("isValid(datum.note)").mark_text(
            align="left", fontSize=9, color="#a04000").encode(x=alt.value(0), text="note:N"),
        data=alt.NamedData("rank"),
    ).properties(width=RANK_WIDTH, height=ROW_HEIGHT, title=alt.TitleParams(
        lang.gettext("Rank among similar cities"), anchor="start", fontSize=9, color="#445"))
    return layers.facet(row=alt.Row("label:N", header=_header(False), sort=order, title=None), spacing=8)


def domain_chart(indicators: Sequence[dict[str, Any]], points: Sequence[dict[str, Any]],
                 targets: Sequence[dict[str, Any]], practices: Sequence[dict[str, Any]],
                 peer_values: Sequence[dict[str, Any]], lang: Language) -> str:
    """One domain's indicators, one row each: trend against targets, and rank among similar cities."""
    if not indicators:
        return ""
    order = tuple(row["label"] for row in indicators)
    trend = _trend_values(indicators, points, targets, practices, lang)
    ranks, most = _rank_values(indicators, peer_values, lang)
    years = tuple(sorted({v["year"] for v in trend if v["layer"] == "value"}))
    return to_svg(_domain_spec(lang.code, order, years, most), lang, {"trend": trend, "rank": ranks})


# Placeholders for what differs between two charts of a language: the rows' order, the years,
# the rank axis. Each is a one-item list that no real chart holds.
SHAPE = {"order": ["\x00order"], "years": ["\x00years"], "rank_domain": ["\x00rank_domain"],
         "rank_ticks": ["\x00rank_ticks"]}


def _domain_spec(lang_code: str, order: tuple[str, ...], years: tuple[int, ...], most: int) -> dict[str, Any]:
    """The domain chart's Vega-Lite spec without its rows: the language's template with this chart's
    order, years and rank axis put in (what altair would build for them, in microseconds, not 0.1-0.5 s)."""
    shape = {"order": list(order), "years": list(years), "rank_domain": [0.5, most + 0.5],
             "rank_ticks": list(range(1, most + 1))}
    placeholders = {value[0]: shape[key] for key, value in SHAPE.items()}
    return _fill(_spec_template(lang_code), placeholders)


def _fill(node: Any, placeholders: dict[str, list]) -> Any:
    if isinstance(node, dict):
        return {key: _fill(value, placeholders) for key, value in node.items()}
    if isinstance(node, list):
        if len(node) == 1 and isinstance(node[0], str) and node[0] in placeholders:
            return list(placeholders[node[0]])
        return [_fill(value, placeholders) for value in node]
    return node


@lru_cache(maxsize=8)
def _spec_template(lang_code: str) -> dict[str, Any]:
    """A language's domain chart built once with altair, with placeholders for its shape: altair takes
    0.1-0.5 s to build and copy the layered facets, and the cities of a batch rarely share one shape."""
    return _altair_spec(lang_code, SHAPE["order"], SHAPE["years"], SHAPE["rank_domain"], SHAPE["rank_ticks"])


def _altair_spec(lang_code: str, order: list, years: list, rank_domain: list, rank_ticks: list) -> dict[str, Any]:
    lang = language(lang_code)
    chart = alt.hconcat(_trend_panel(years, order, lang), _rank_panel(rank_domain, rank_ticks, order, lang),
                        spacing=24).resolve_scale(color="independent", size="independent", fill="independent")
    return chart.configure(font=FONT).configure_view(stroke=None).to_dict(validate=False)
