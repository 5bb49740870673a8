"""Refresh the city brief's message catalogues after changing a message (Babel, gettext .po files).

    .venv/bin/python scripts/brief_messages.py

Writes src/citypeers/briefs/locale/brief.pot from every message of the code, the templates and the
seed vocabulary (citypeers.briefs.i18n.extract_messages), and merges it into each language's .po:
new messages arrive untranslated, changed ones fuzzy, removed ones are dropped. Then translate the
empty and fuzzy entries; tests/unit/test_brief_catalogue.py fails until none is left.
"""

from __future__ import annotations

from babel.messages.pofile import write_po

from citypeers.briefs.i18n import LANGUAGES, LOCALE_DIR, catalogue_path, extract_messages, read_catalogue, untranslated


def main() -> None:
    template = extract_messages()
    with (LOCALE_DIR / "brief.pot").open("wb") as handle:
        write_po(handle, template, width=100, sort_output=True, omit_header=False)
    for code in LANGUAGES:
        if code == "en":
            continue
        catalogue = read_catalogue(code)
        catalogue.update(template, no_fuzzy_matching=False)
        with catalogue_path(code).open("wb") as handle:
            write_po(handle, catalogue, width=100, sort_output=True, ignore_obsolete=True)
        missing = untranslated(code)
        print(f"{catalogue_path(code)}: {len(template)} messages, {len(missing)} to translate")


if __name__ == "__main__":
    main()
