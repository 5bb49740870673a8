"""Demo route: the demo's plain files over HTTP (`GET /files/<path>`), as a city's open-data
portal publishes a CSV or a registry file, so the file sources (indicator template, wide tables,
practices) exercise the same fetch layer as every other feed: ETag and 304 from the router,
`Last-Modified` from the file's time."""

from __future__ import annotations

import mimetypes
import re
from urllib.parse import unquote

from citypeers.demo.feed_server import DemoRequest, DemoResponse, HttpError, Route, file_response
from citypeers.demo.generator import demo_dir

# Files whose type `mimetypes` does not know, as portals serve them.
_TYPES = {".csv": "text/csv; charset=utf-8", ".yml": "application/yaml", ".yaml": "application/yaml"}


def demo_file(request: DemoRequest, match: re.Match[str]) -> DemoResponse:
    """A file below the demo folder; a path that leaves it is a 404, never a read elsewhere."""
    root = demo_dir(request.home).resolve()
    target = (root / unquote(match["path"])).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        raise HttpError(404, f"no demo file {match['path']!r} (run `citypeers demo-data` first)")
    content_type = _TYPES.get(target.suffix.lower()) or mimetypes.guess_type(target.name)[0]
    return file_response(target, content_type or "application/octet-stream")


ROUTES: list[Route] = [("GET", re.compile(r"/files/(?P<path>.+)"), demo_file)]
