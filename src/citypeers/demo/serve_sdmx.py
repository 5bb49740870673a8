"""Demo SDMX REST data queries: `GET /sdmx/rest/data/{flow}/{key}?startPeriod&endPeriod&format`.

Two dataflows, each answering in the shape of the service it imitates (citypeers.feeds.sdmx_rest):

- `DF_CITY_WATER`, asked as the OECD Data Explorer does (`CITYPEERS,DF_CITY_WATER,1.0`; key
  dimensions REF_AREA.FREQ.MEASURE.UNIT_MEASURE; `format=csvfilewithlabels`): the demo's
  `water.csv`, SDMX-CSV 2.0 with label columns. An empty result is a 404 `NoResultsFound`.
- `DF_CITY_NOISE`, asked as Eurostat's SDMX 2.1 API is (`DF_CITY_NOISE`; key FREQ.INDICATOR.REF_AREA;
  `format=SDMX-CSV`): the demo's `noise.csv`, SDMX-CSV 1.0 (here with `ID: Name` headers). An empty
  result is a 404 with an SDMX-ML error message, code 100 `No Results Found`.

The key filters the rows (codes joined by `+`, an empty part or the key `all` is every code), and
`startPeriod` / `endPeriod` (inclusive) keep the observations whose year lies between theirs (the
demo's data are annual). What the services reject is rejected the same way: a key of the wrong
length or with a malformed code is a 400 (SDMX error 140/150), a malformed period a 400, a format
the flow is not offered in a 406, an unknown flow a 404 naming it.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from urllib.parse import unquote
from xml.sax.saxutils import escape

from citypeers.demo.feed_server import DemoRequest, DemoResponse, http_date
from citypeers.demo.generator import demo_dir

CSV_TYPE = "application/vnd.sdmx.data+csv; charset=utf-8"
_CODE = re.compile(r"[A-Za-z0-9_@$\-]+")
_PERIOD = re.compile(r"(?P<year>\d{4})(-(Q[1-4]|S[12]|W\d{2}|M?\d{2}(-\d{2})?))?")


@dataclass(frozen=True)
class Dataflow:
    flow_id: str
    file_name: str
    dimensions: tuple[str, ...]  # the key's order
    formats: tuple[str, ...]
    no_results: str  # "oecd" or "eurostat": how an empty result is answered


DATAFLOWS = {
    flow.flow_id: flow for flow in (
        Dataflow("DF_CITY_WATER", "water.csv", ("REF_AREA", "FREQ", "MEASURE", "UNIT_MEASURE"),
                 ("csvfilewithlabels",), "oecd"),
        Dataflow("DF_CITY_NOISE", "noise.csv", ("FREQ", "INDICATOR", "REF_AREA"), ("SDMX-CSV",), "eurostat"),
    )
}


def sdmx_error(status: int, code: int, text: str) -> DemoResponse:
    """An SDMX-ML 2.1 error message, as the SDMX REST guidelines return errors."""
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<mes:Error xmlns:mes="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/message" '
            'xmlns:com="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/common">'
            f'<mes:ErrorMessage code="{code}"><com:Text xml:lang="en">{escape(text)}</com:Text>'
            '</mes:ErrorMessage></mes:Error>\n')
    return DemoResponse(status, body.encode(), "application/xml; charset=utf-8")


def _flow(path_flow: str) -> Dataflow | None:
    """`AGENCY,FLOW,VERSION` (OECD), `AGENCY,FLOW` or `FLOW` (Eurostat) → the demo flow, by its id."""
    parts = path_flow.split(",")
    flow_id = parts[1] if len(parts) > 1 else parts[0]
    return DATAFLOWS.get(flow_id.upper())


def _key_filter(flow: Dataflow, key: str) -> dict[int, set[str]] | DemoResponse:
    """Dimension position → allowed codes; an SDMX error answer for a malformed key."""
    if key in ("", "all", "ALL"):
        return {}
    parts = key.split(".")
    if len(parts) != len(flow.dimensions):
        return sdmx_error(400, 150, f"Semantic error: the key {key} has {len(parts)} dimensions, the dataflow "
                          f"{flow.flow_id} has {len(flow.dimensions)} ({'.'.join(flow.dimensions)})")
    allowed = {}
    for position, part in enumerate(parts):
        if not part:
            continue
        codes = part.split("+")
        if not all(_CODE.fullmatch(code) for code in codes):
            return sdmx_error(400, 140, f"Syntax error: {part!r} is not a list of codes joined by '+' "
                              f"(dimension {flow.dimensions[position]})")
        allowed[position] = set(codes)
    return allowed


def _period_year(request: DemoRequest, name: str) -> int | None | DemoResponse:
    value = (request.query.get(name) or [""])[0]
    if not value:
        return None
    match = _PERIOD.fullmatch(value)
    if not match:
        return sdmx_error(400, 140, f"Syntax error: {name}={value} is not an SDMX period (2024, 2024-03, 2024-Q1, "
                          "2024-03-31)")
    return int(match["year"])


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def _code(cell: str) -> str:
    """A cell's code, without a `: label` part (SDMX-CSV labels=both)."""
    return cell.split(": ", 1)[0].strip()


def _columns(header: list[str]) -> dict[str, int]:
    """SDMX id → column position (a `ID: Name` header is read by its id; label columns are skipped
    because an id column of the same name comes first)."""
    positions: dict[str, int] = {}
    for position, name in enumerate(header):
        positions.setdefault(_code(name.split(":", 1)[0]), position)
    return positions


def data_query(request: DemoRequest, match: re.Match[str]) -> DemoResponse:
    flow = _flow(unquote(match["flow"]))
    if flow is None:
        return sdmx_error(404, 150, f"Could not find Dataflow and/or DSD related with this data request: "
                          f"{match['flow']} (the demo offers {', '.join(DATAFLOWS)})")
    wanted = (request.query.get("format") or [flow.formats[0]])[0]
    if wanted not in flow.formats:
        return sdmx_error(406, 406, f"Not Acceptable: format {wanted} is not offered for {flow.flow_id} (offered: "
                          f"{', '.join(flow.formats)})")
    allowed = _key_filter(flow, unquote(match["key"] or ""))
    if isinstance(allowed, DemoResponse):
        return allowed
    first, last = _period_year(request, "startPeriod"), _period_year(request, "endPeriod")
    for bound in (first, last):
        if isinstance(bound, DemoResponse):
            return bound
    path = demo_dir(request.home) / "sdmx_csv" / flow.file_name
    if not path.is_file():
        return sdmx_error(503, 503, f"Service unavailable: the demo has no {flow.file_name}; run citypeers demo-data")
    header, *rows = _rows(path.read_text(encoding="utf-8"))
    columns = _columns(header)
    dimension_columns = {position: columns[dimension] for position, dimension in enumerate(flow.dimensions)}
    period_column = columns["TIME_PERIOD"]
    kept = [
        row for row in rows
        if all(_code(row[dimension_columns[position]]) in codes for position, codes in allowed.items())
        and (first is None or int(row[period_column][:4]) >= first)
        and (last is None or int(row[period_column][:4]) <= last)
    ]
    if not kept:
        if flow.no_results == "oecd":
            return DemoResponse(404, b"NoResultsFound", "text/plain; charset=utf-8")
        return sdmx_error(404, 100, "No Results Found")
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows([header, *kept])
    return DemoResponse(200, buffer.getvalue().encode("utf-8"), CSV_TYPE,
                        {"Last-Modified": http_date(path.stat().st_mtime)})


ROUTES = [("GET", re.compile(r"/sdmx/rest/data/(?P<flow>[^/]+)(?:/(?P<key>[^/]*))?/?"), data_query)]
