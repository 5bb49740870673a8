"""Demo GTFS downloads: `GET /gtfs/{year}/{city_id}.zip`, the demo's zips as a publisher serves them.

The bytes are the zip `citypeers demo-data` wrote (`<demo>/gtfs/<year>/<city_id>.zip`), with the
file's time as `Last-Modified` (the router adds the ETag and answers conditional requests with
304). A city or year the demo has no zip for is a 404, as a withdrawn feed URL is.
"""

from __future__ import annotations

import re

from citypeers.demo.feed_server import DemoRequest, DemoResponse, HttpError, file_response
from citypeers.demo.generator import demo_dir

ZIP_TYPE = "application/zip"


def gtfs_zip(request: DemoRequest, match: re.Match[str]) -> DemoResponse:
    path = demo_dir(request.home) / "gtfs" / match["year"] / f"{match['city_id']}.zip"
    if not path.is_file():
        raise HttpError(404, f"no GTFS feed for {match['city_id']} in {match['year']}")
    return file_response(path, ZIP_TYPE)


ROUTES = [("GET", re.compile(r"/gtfs/(?P<year>\d{4})/(?P<city_id>[a-z0-9_]+)\.zip"), gtfs_zip)]
