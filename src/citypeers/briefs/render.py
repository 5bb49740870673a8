"""Render a city brief: self-contained HTML (styles and SVG charts inline) and a PDF of the same HTML.

The PDF is WeasyPrint's rendering of exactly the HTML file, so the two never disagree. WeasyPrint
embeds (subsets of) the fonts it used: the Noto CJK fonts of Debian's fonts-noto-cjk for names in
Chinese, Japanese or Korean script, DejaVu for the rest (`make system-packages`).
"""

from __future__ import annotations

import base64
import logging
import re
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from citypeers.briefs.content import Brief, load_brief
from citypeers.briefs.i18n import PACKAGE_DIR, language
from citypeers.briefs.view import build_view

log = logging.getLogger(__name__)

FORMATS = ("html", "pdf")


@cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(PACKAGE_DIR / "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.policies["ext.i18n.trimmed"] = True
    return environment


def render_html(brief: Brief, lang: str = "en", show_native: bool = True) -> str:
    """The brief as one HTML document in a language ('en' or 'es')."""
    language_ = language(lang)
    environment = _environment().overlay()
    environment.install_gettext_translations(language_.translations, newstyle=True)
    view: dict[str, Any] = build_view(brief, language_, show_native)
    css = (PACKAGE_DIR / "templates" / "brief.css").read_text(encoding="utf-8")
    return environment.get_template("brief.html.j2").render(v=view, css=css)


SVG_ELEMENT = re.compile(r"<svg\b.*?</svg>", re.DOTALL)


def _svg_as_image(match: re.Match) -> str:
    encoded = base64.b64encode(match.group(0).encode("utf-8")).decode("ascii")
    return f'<img class="chart" alt="" src="data:image/svg+xml;base64,{encoded}">'


def render_pdf(html: str) -> bytes:
    """The PDF of an HTML brief (A4, fonts embedded). Each inline SVG chart goes to WeasyPrint as an
    image of the very same SVG: drawn alike, but without styling its thousand nodes as HTML elements
    (a brief's PDF in 2.5 s rather than 4 s)."""
    import weasyprint

    return weasyprint.HTML(string=SVG_ELEMENT.sub(_svg_as_image, html), base_url=str(PACKAGE_DIR)).write_pdf()


def write_brief(typed_city: str, year: int | None = None, lang: str = "en", file_format: str = "html",
                out: Path | None = None, database: Path | None = None, show_native: bool = True) -> Path:
    """`citypeers brief`: render one city's brief to a file (default below $CITYPEERS_HOME/briefs/<year>/)."""
    from citypeers import paths

    brief = load_brief(typed_city, year, database)
    target = out or paths.brief_file(brief.year, brief.city["city_id"], lang, file_format)
    return write_files(brief, [lang], [file_format], {(lang, file_format): target}, show_native)[0]


def write_files(brief: Brief, langs: list[str], formats: list[str], targets: dict[tuple[str, str], Path],
                show_native: bool = True) -> list[Path]:
    """Each language's HTML, and its PDF when asked, written atomically (a reader never sees half a file)."""
    written = []
    for lang in langs:
        html = render_html(brief, lang, show_native)
        for file_format in formats:
            if file_format not in FORMATS:
                raise ValueError(f"no brief format {file_format!r}; known: {', '.join(FORMATS)}")
            target = targets[(lang, file_format)]
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".tmp")
            if file_format == "html":
                partial.write_text(html, encoding="utf-8")
            else:
                partial.write_bytes(render_pdf(html))
            partial.replace(target)
            log.info("wrote %s", target)
            written.append(target)
    return written
