"""The city brief's message catalogues: complete in Spanish, in step with the code, placeholders intact."""

from __future__ import annotations

import re

from babel.messages.pofile import read_po

from citypeers.briefs.i18n import LOCALE_DIR, extract_messages, read_catalogue, seed_vocabulary, untranslated

PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def message_ids() -> set[str]:
    return {m.id if isinstance(m.id, str) else m.id[0] for m in extract_messages() if m.id}


def test_spanish_catalogue_translates_every_message_the_brief_can_show():
    extracted = message_ids()
    assert len(extracted) > 150, "extraction found too few messages: is the template or the code still marked?"
    assert untranslated("es") == [], "run scripts/brief_messages.py and translate the empty or fuzzy entries"


def test_seed_vocabulary_is_part_of_the_catalogue():
    words = {word for word, _ in seed_vocabulary()}
    assert {"Annual mean PM2.5 concentration", "WHO 2021 interim target 1", "Southern Europe", "µg/m³"} <= words
    assert words <= message_ids()


def test_committed_template_lists_exactly_the_extracted_messages():
    with (LOCALE_DIR / "brief.pot").open("rb") as handle:
        committed = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(handle) if m.id}
    assert committed == message_ids(), "messages changed: run scripts/brief_messages.py"


def test_spanish_translations_keep_every_placeholder_of_the_english_message():
    for message in read_catalogue("es"):
        if not message.id:
            continue
        pairs = zip(message.id, message.string, strict=True) if isinstance(message.id, tuple) else [
            (message.id, message.string)]
        for english, spanish in pairs:
            assert sorted(PLACEHOLDER.findall(english)) == sorted(PLACEHOLDER.findall(spanish)), english


def test_untranslated_reports_a_message_missing_from_the_catalogue():
    assert untranslated("es", ["Annual mean PM2.5 concentration", "a message nobody translated"]) == [
        "a message nobody translated"]
