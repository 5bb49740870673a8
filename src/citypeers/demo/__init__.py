"""Demo data: deterministic feeds for every city in the registry (`generate`) and an OpenAQ
API v3-shaped server for them (`citypeers.demo.openaq_server`).

The air levels in `air_levels.csv` are the project's own approximate figures, not measurements.
"""

from citypeers.demo.generator import generate

__all__ = ["generate"]
