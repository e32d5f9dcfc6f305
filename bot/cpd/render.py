"""CPD records as a worker takes them away: Markdown, and a clean PDF.

Both lay each record out as the regulator's form asks: the title, then every field
under its own heading (type, date, description and relevance, what I learnt, impact,
and peer reflection when there is some). The PDF gives each record its own page (one or
two, at the drafted lengths), in A4 with UK dates.

Why fpdf2 for the PDF: it is pure Python (a 340 kB wheel) and typed, and draws text,
headings and page breaks with no layout engine to learn; its dependencies are Pillow,
fontTools and defusedxml, all with wheels everywhere. It embeds a TrueType font, subset
to the characters used, which is what worker text (curly quotes, accented names, the
odd emoji) needs. reportlab would do as well but is a 2 MB wheel with a larger, lower
level API and ships only Latin fonts; weasyprint renders HTML beautifully but needs the
Pango and HarfBuzz system libraries, which slim containers do not have. fpdf2 is
LGPL-3.0, used unmodified as a library, which sits fine with this MIT project.

Fonts: fpdf2 ships no Unicode font, only the PDF core fonts (Latin-1). `find_font`
looks for DejaVu Sans where Linux distributions (and matplotlib) install it; with it,
every character DejaVu has is drawn as written. Without it, or for a character the
font lacks, the text is folded to what the font can show: typographic quotes and dashes
to plain ones, letters to their unaccented form ("Ł" to "L"), emoji and other symbols
left out, anything else a "?". The Markdown file always keeps every character, and the
worker's record in the store is never changed by this.
"""

from __future__ import annotations

import functools
import importlib.util
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final, Literal

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import TTFFont

from bot.cpd.draft import FIELDS, CpdFields
from bot.messages import Attachment

Format = Literal["md", "pdf"]
MEDIA_TYPES: Final[dict[str, str]] = {"md": "text/markdown", "pdf": "application/pdf"}
DEFAULT_HEADING: Final = "CPD records"

# Where DejaVu Sans lives on common systems: Debian and Ubuntu, Fedora, Arch and Alpine.
FONT_PLACES: Final = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/TTF/DejaVuSans.ttf"),
    Path("/usr/share/fonts/ttf-dejavu/DejaVuSans.ttf"),
)

# Stand-ins a core font can show, for characters it cannot.
_PLAIN: Final[dict[str, str]] = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": ",",
    "\u201b": "'",
    "\u2032": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u2033": '"',
    "\u2010": "-",
    "\u2011": "-",
    "\u2012": "-",
    "\u2013": "-",
    "\u2014": "-",
    "\u2015": "-",
    "\u2212": "-",
    "\u2026": "...",
    "\u2022": "-",
    "\u20ac": "EUR",
    "\u2122": "TM",
    "\u00a0": " ",
    "\u2009": " ",
    "\u202f": " ",
    "\t": "    ",
    "\r": "",
    "\u0141": "L",
    "\u0142": "l",
    "\u0110": "D",
    "\u0111": "d",
    "\u0152": "OE",
    "\u0153": "oe",
    "\u0131": "i",
}
# Kinds of character left out when the font lacks them: symbols (emoji among them),
# modifiers such as skin tones, joiners and variation selectors, private use.
_DROPPED_CATEGORIES: Final = frozenset({"So", "Sk", "Cf", "Co", "Cn", "Cs", "Mn", "Me"})

# Page layout, in millimetres and points.
MARGIN: Final = 20.0
TITLE_SIZE: Final = 16
HEADING_SIZE: Final = 11
BODY_SIZE: Final = 11
LINE: Final = 5.5
HEADING_COLOUR: Final = (30, 90, 100)
QUIET_COLOUR: Final = (110, 110, 110)


# ---- Markdown ------------------------------------------------------------------------


def markdown(records: Sequence[CpdFields], *, heading: str | None = None) -> str:
    """The records as one Markdown document: `# heading`, then each record's title as
    `##` and each field under its own `###`."""
    parts = [f"# {heading or DEFAULT_HEADING}"]
    if not records:
        parts.append("No CPD records for this period yet.")
    for number, record in enumerate(records):
        if number:
            parts.append("---")
        parts.append(f"## {_one_line(record.title)}")
        for label, text in _sections(record):
            parts.append(f"### {label}\n\n{_escaped(text)}")
    return "\n\n".join(parts) + "\n"


def _escaped(text: str) -> str:
    # A worker's line that begins with "#" is their text, not a heading of the document.
    return "\n".join("\\" + line if line.startswith("#") else line for line in text.splitlines())


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _sections(record: CpdFields) -> list[tuple[str, str]]:
    """(heading, text) of every field after the title; peer reflection only if any."""
    return [
        (label, record.text_of(name))
        for name, label in FIELDS
        if name != "title" and (name != "peer" or record.includes_peer)
    ]


# ---- PDF -----------------------------------------------------------------------------


def find_font() -> Path | None:
    """DejaVu Sans, if this machine has it (from the system, or matplotlib's copy)."""
    for place in FONT_PLACES:
        if place.is_file():
            return place
    spec = importlib.util.find_spec("matplotlib")  # looked up, not imported
    folders = (spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        bundled = Path(folder) / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
        if bundled.is_file():
            return bundled
    return None


class _Document(FPDF):
    """A4 pages with a quiet footer: the document's name and "page 2 of 3"."""

    def __init__(self, name: str, family: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.document_name = name
        self.body_family = family
        self.fold: Callable[[str], str] = _latin1
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(auto=True, margin=MARGIN)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(self.body_family, "", 8)
        self.set_text_color(*QUIET_COLOUR)
        self.cell(
            0,
            5,
            self.fold(f"{self.document_name} · page {self.page_no()} of {{nb}}"),
            align="C",
        )


def pdf(
    records: Sequence[CpdFields],
    *,
    heading: str | None = None,
    font: Path | Literal["auto"] | None = "auto",
) -> bytes:
    """The records as a PDF, each from a new page.

    `font` is a TrueType file to embed ("auto": `find_font()`); None draws in the core
    Helvetica font, folding what it cannot show (see the module's docstring).
    """
    name = heading or DEFAULT_HEADING
    path = find_font() if font == "auto" else font
    document = _Document(name, "body" if path is not None else "helvetica")
    if path is not None:
        document.add_font("body", "", str(path))
        bold = path.with_name(f"{path.stem}-Bold{path.suffix}")
        document.add_font("body", "B", str(bold if bold.is_file() else path))
        embedded = document.fonts["body"]
        glyphs = frozenset(embedded.cmap) if isinstance(embedded, TTFFont) else frozenset()
        document.fold = functools.partial(fold, has_glyph=lambda ch: ord(ch) in glyphs)
    document.set_title(document.fold(name))
    document.set_creator("Critical Friend")
    document.set_lang("en-GB")
    if not records:
        document.add_page()
        _title(document, name)
        _body(document, "No CPD records for this period yet.")
    for number, record in enumerate(records):
        document.add_page()
        if number == 0 and heading:
            _quiet(document, heading)
        _title(document, record.title)
        for label, text in _sections(record):
            _heading(document, label)
            _body(document, text)
    return bytes(document.output())


def _quiet(document: _Document, text: str) -> None:
    document.set_font(document.body_family, "", 9)
    document.set_text_color(*QUIET_COLOUR)
    _lines(document, text, 5)
    document.ln(2)


def _title(document: _Document, text: str) -> None:
    document.set_font(document.body_family, "B", TITLE_SIZE)
    document.set_text_color(0, 0, 0)
    _lines(document, _one_line(text), 7.5)
    document.ln(2)


def _heading(document: _Document, text: str) -> None:
    # Never a heading alone at the foot of a page: it moves over with its first lines.
    if document.will_page_break(LINE * 4):
        document.add_page()
    document.ln(2)
    document.set_font(document.body_family, "B", HEADING_SIZE)
    document.set_text_color(*HEADING_COLOUR)
    _lines(document, text, 6)


def _body(document: _Document, text: str) -> None:
    document.set_font(document.body_family, "", BODY_SIZE)
    document.set_text_color(0, 0, 0)
    _lines(document, text or "(left empty)", LINE)
    document.ln(1)


def _lines(document: _Document, text: str, height: float) -> None:
    document.multi_cell(
        0, height, document.fold(text).strip(), new_x=XPos.LMARGIN, new_y=YPos.NEXT, align="L"
    )


def fold(text: str, *, has_glyph: Callable[[str], bool]) -> str:
    """`text` with every character the font lacks replaced by one it has, or left out."""
    out = []
    for ch in text:
        if ch == "\n" or (ch not in "\t\r" and has_glyph(ch)):
            out.append(ch)
            continue
        stand_in = _PLAIN.get(ch)
        if stand_in is None:
            base = "".join(
                c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c)
            )
            stand_in = base if base and base != ch else None
        if stand_in is not None and all(has_glyph(c) for c in stand_in):
            out.append(stand_in)
        elif unicodedata.category(ch) not in _DROPPED_CATEGORIES:
            out.append("?")
    return "".join(out)


def _latin1(text: str) -> str:
    return fold(text, has_glyph=lambda ch: ord(ch) < 256 and unicodedata.category(ch) != "Cc")


# ---- as a file for the worker -------------------------------------------------------


def attachment(
    records: Sequence[CpdFields], fmt: Format, *, stem: str, heading: str | None = None
) -> Attachment:
    """The records as a file for a channel to send: `stem.md` or `stem.pdf`."""
    content = (
        pdf(records, heading=heading)
        if fmt == "pdf"
        else markdown(records, heading=heading).encode()
    )
    return Attachment(f"{stem}.{fmt}", content, MEDIA_TYPES[fmt])
