"""Demo feed of the practices registry: `practices/practices.yml`, the practices the demo data plant
(`planted_practices.DEMO_PRACTICES`), written as a city would write its registry and marked
`demo: true`.

Only practices of the cities the demo generates are listed: a practice in a city without demo
data would have nothing to be measured against.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from citypeers.demo.planted_practices import DEMO_PRACTICES

HEADER = (
    "# citypeers demo practices registry (source: practices), written by `citypeers demo-data`.\n"
    "# Demo entries: the demo data plant these practices' effects; they are not claims about the cities.\n"
)


def entries(countries: dict[str, str]) -> list[dict]:
    """The registry entries of the planted practices in the cities of `countries` (city id → ISO3
    code, or empty when unknown), in the template's field order."""
    return [
        {
            "practice_id": practice.practice_id,
            "city": practice.city_id,
            "country": countries[practice.city_id] or None,
            "title": practice.title,
            "domain": practice.domain,
            "category": practice.category,
            "indicator_codes": list(practice.indicator_codes),
            "start_date": practice.start_date,
            "scope": practice.scope,
            "description": practice.description,
            "demo": True,
        }
        for practice in DEMO_PRACTICES
        if practice.city_id in countries
    ]


def write(root: Path, cities: list[dict[str, str]]) -> dict[str, int]:
    """Write `root/practices/practices.yml`; returns counts for the summary."""
    target = Path(root) / "practices" / "practices.yml"
    target.parent.mkdir(parents=True, exist_ok=True)
    listed = entries({city["city_id"]: city.get("country_iso3", "") for city in cities})
    body = yaml.safe_dump({"practices": listed}, sort_keys=False, allow_unicode=True, width=120)
    target.write_text(HEADER + body, encoding="utf-8")
    return {"practices_files": 1, "practices_entries": len(listed)}
