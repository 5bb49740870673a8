"""Languages of the city brief: gettext catalogues (Babel) and numbers and dates in the locale's way.

The catalogues are `.po` files kept in git (`locale/<lang>/LC_MESSAGES/brief.po`) and read at run
time through Babel, so there is no compiled `.mo` to forget to rebuild. English is the source
language: its "translation" is the message itself. `extract_messages` lists every message the brief
can show: those marked in the code and the templates, plus the vocabulary that comes from the dbt
seeds (indicator, unit, target, region names), which the warehouse holds in English.
`scripts/brief_messages.py` writes the template `brief.pot` from it and merges it into each `.po`;
`tests/unit/test_brief_catalogue.py` fails on any message without a Spanish translation.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path

from babel import Locale, numbers
from babel import dates as babel_dates
from babel.core import get_global
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from citypeers import paths

PACKAGE_DIR = Path(__file__).resolve().parent
LOCALE_DIR = PACKAGE_DIR / "locale"
DOMAIN = "brief"
LANGUAGES = {"en": "en_GB", "es": "es_ES"}
"""Brief language -> the Babel locale of its numbers and dates (Vega's d3 locale is the same tag)."""


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "mark, translate later"
    """Marks a message for extraction; it is translated where it is shown."""
    return message


DOMAIN_NAMES = {
    "air_quality": N_("Air quality"),
    "noise": N_("Noise"),
    "mobility": N_("Mobility"),
    "waste": N_("Waste"),
    "water": N_("Water"),
    "housing": N_("Housing"),
    "overall": N_("Overall"),
}
SIZE_CLASSES = {
    "under_50k": N_("under 50,000 residents"),
    "50k_200k": N_("50,000 to 200,000 residents"),
    "200k_500k": N_("200,000 to 500,000 residents"),
    "500k_1500k": N_("0.5 to 1.5 million residents"),
    "over_1500k": N_("over 1.5 million residents"),
    "unknown": N_("size unknown"),
}
INCOME_GROUPS = {
    "high": N_("high income"),
    "upper_middle": N_("upper-middle income"),
    "lower_middle": N_("lower-middle income"),
    "low": N_("low income"),
    "unknown": N_("income unknown"),
}
CLIMATE_ZONES = {
    "tropical": N_("tropical"),
    "arid": N_("arid"),
    "temperate": N_("temperate"),
    "continental": N_("continental"),
    "polar": N_("polar"),
}
TRAFFIC_LIGHTS = {"green": N_("green"), "amber": N_("amber"), "red": N_("red")}
EVIDENCE_GRADES = {
    "strong": N_("strong evidence"),
    "moderate": N_("moderate evidence"),
    "weak": N_("weak evidence"),
    "insufficient": N_("evidence insufficient"),
}
FEED_HEALTH = {
    "passing": N_("passing"),
    "quarantining rows": N_("quarantining rows"),
    "failing": N_("failing"),
}
CONTEXT_NAMES = {"population": N_("population"), "area": N_("area")}

SEEDS = {
    "indicators.csv": ("indicator_name", "unit_label"),
    "indicator_targets.csv": ("target_name",),
    "cities.csv": ("region",),
}
"""The seed columns whose English words reach the brief through the marts."""


@dataclass(frozen=True)
class Language:
    """One brief language: its catalogue and its locale's number and date formats."""

    code: str
    translations: NullTranslations

    @property
    def locale(self) -> Locale:
        return Locale.parse(LANGUAGES[self.code])

    @property
    def bcp47(self) -> str:
        return LANGUAGES[self.code].replace("_", "-")

    def gettext(self, message: str) -> str:
        return self.translations.gettext(message)

    def word(self, text: str | None) -> str:
        """A word that comes from the warehouse (an indicator, unit, target or region name from the
        seeds) in the language, or as it is when the catalogue lacks it. A separate name from gettext
        so that extraction does not take the column names in `word(row["indicator_name"])` for messages."""
        return self.translations.gettext(text) if text else ""

    def ngettext(self, singular: str, plural: str, count: int) -> str:
        return self.translations.ngettext(singular, plural, count)

    def vocabulary(self, table: dict[str, str], key: str | None) -> str:
        """A code of a closed vocabulary in words (the code itself when the vocabulary lacks it)."""
        if key is None:
            return ""
        return self.gettext(table[key]) if key in table else key

    @staticmethod
    def decimals(value: float) -> int:
        """Decimals that suit a figure's size: 1234 -> 0, 14.23 -> 1, 0.512 -> 2."""
        return 0 if abs(value) >= 100 else 1 if abs(value) >= 1 else 2

    @classmethod
    def rounded(cls, value: float, decimals: int | None = None) -> Decimal:
        """Half away from zero, as DuckDB's round() and a reader do (12.25 -> 12.3), not Python's half-even."""
        decimals = cls.decimals(value) if decimals is None else decimals
        return Decimal(str(value)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)

    @classmethod
    def rounds_to_zero(cls, value: float, decimals: int | None = None) -> bool:
        """True when the figure shows as zero at its display precision (a trend shown as 'flat')."""
        return cls.rounded(value, decimals) == 0

    def number(self, value: float | None, decimals: int | None = None) -> str:
        """A figure with a precision that suits its size: 1234 -> '1,234', 14.23 -> '14.2', 0.512 -> '0.51'."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "–"
        if decimals is None:
            decimals = self.decimals(value)
        pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
        text = numbers.format_decimal(self.rounded(value, decimals), format=pattern, locale=self.locale)
        return text.replace("-", "−")

    def signed(self, value: float | None, decimals: int | None = None) -> str:
        """A change with its sign: '+0.4', '−1.2'."""
        if value is None:
            return "–"
        if self.rounds_to_zero(value, decimals):
            return self.number(0.0, decimals if decimals is not None else 0)
        text = self.number(value, decimals)
        return text if text.startswith("−") else "+" + text

    def percent(self, share: float | None, decimals: int = 0) -> str:
        """A share 0-1 as a percentage in the locale's way ('80%', '80 %')."""
        if share is None:
            return "–"
        pattern = self.locale.percent_formats[None].pattern
        if decimals:
            pattern = re.sub(r"0(?=[^0#]*%)", "0." + "0" * decimals, pattern, count=1)
        return numbers.format_percent(self.rounded(share, decimals + 2), format=pattern, locale=self.locale)

    def compact(self, value: float | None) -> str:
        """3332035 -> '3.3M' / '3,3 M'."""
        if value is None:
            return "–"
        return numbers.format_compact_decimal(value, locale=self.locale, fraction_digits=1)

    def date(self, value: date | datetime | None) -> str:
        if value is None:
            return "–"
        return babel_dates.format_date(value, format="long", locale=self.locale)

    def datetime(self, value: datetime | None) -> str:
        if value is None:
            return "–"
        return babel_dates.format_datetime(value, format="medium", locale=self.locale)

    def country(self, iso3: str | None, english_name: str | None) -> str:
        """The country's name in the language (Babel's CLDR names), or the warehouse's name."""
        alpha2 = (get_global("territory_aliases").get(iso3 or "") or [None])[0]
        return self.locale.territories.get(alpha2, english_name or "") if alpha2 else (english_name or "")


@cache
def language(code: str) -> Language:
    """The catalogue of a brief language ('en' is the source language and needs none)."""
    if code not in LANGUAGES:
        raise ValueError(f"no brief language {code!r}; known: {', '.join(LANGUAGES)}")
    if code == "en":
        return Language(code, NullTranslations())
    catalogue = read_catalogue(code)
    buffer = io.BytesIO()
    write_mo(buffer, catalogue, use_fuzzy=False)
    buffer.seek(0)
    return Language(code, Translations(buffer, domain=DOMAIN))


def catalogue_path(code: str) -> Path:
    return LOCALE_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalogue(code: str) -> Catalog:
    with catalogue_path(code).open("rb") as handle:
        return read_po(handle, locale=LANGUAGES[code], domain=DOMAIN)


def seed_vocabulary(seeds_dir: Path | None = None) -> list[tuple[str, str]]:
    """(message, where) for every English word of the seeds that the brief shows."""
    seeds_dir = seeds_dir or paths.REPO_ROOT / "dbt_project" / "seeds"
    found: dict[str, str] = {}
    for seed, columns in SEEDS.items():
        with (seeds_dir / seed).open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                for column in columns:
                    if row.get(column):
                        found.setdefault(row[column], f"dbt_project/seeds/{seed}:{column}")
    return sorted(found.items())


def extract_messages() -> Catalog:
    """Every message the brief can show: code, templates and seed vocabulary (the .pot's content)."""
    catalogue = Catalog(domain=DOMAIN, project="citypeers", charset="utf-8")
    method_map = [("**.py", "python"), ("**/templates/**.j2", "jinja2.ext:babel_extract")]
    options_map = {"**/templates/**.j2": {"extensions": "jinja2.ext.i18n", "trimmed": "true"}}
    for filename, lineno, message, comments, context in extract_from_dir(
        PACKAGE_DIR, method_map=method_map, options_map=options_map
    ):
        catalogue.add(message, locations=[(f"src/citypeers/briefs/{filename}", lineno)],
                      auto_comments=comments, context=context)
    for message, where in seed_vocabulary():
        catalogue.add(message, locations=[(where, 0)])
    return catalogue


def untranslated(code: str, messages: Iterable[str] | None = None) -> list[str]:
    """Messages (msgids) with no translation, or only a fuzzy one, in a language's catalogue."""
    catalogue = read_catalogue(code)
    wanted = messages if messages is not None else [m.id for m in extract_messages() if m.id]
    missing = []
    for msgid in wanted:
        entry = catalogue.get(msgid)
        strings = entry.string if entry is not None else None
        translated = [s for s in strings if s] if isinstance(strings, tuple) else [strings] if strings else []
        if entry is None or entry.fuzzy or not translated or (isinstance(strings, tuple) and "" in strings):
            missing.append(msgid if isinstance(msgid, str) else msgid[0])
    return missing
