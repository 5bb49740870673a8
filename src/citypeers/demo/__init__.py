"""Demo data: deterministic feeds for every city in the registry (`generate`) and one local HTTP
server for all of them (`citypeers.demo.feed_server`, with the OpenAQ API v3 routes in
`citypeers.demo.openaq_server`).

The air levels in `air_levels.csv` are the project's own approximate figures, not measurements.
"""

from citypeers.demo.generator import generate

__all__ = ["generate"]
