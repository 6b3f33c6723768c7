"""The briefing as a PDF (fpdf2: pure Python, no system libraries), A4 portrait.

Text is set in DejaVu Sans, the font matplotlib ships, so "≥", "–" and "km²" print
without any font installed on the machine.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib
from fpdf import FPDF
from fpdf.fonts import FontFace

from .document import Block, Briefing, Bullets, Figure, Para, Table

__all__ = ["render_pdf"]

_FONT = "DejaVu"
_FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"


class _Doc(FPDF):
    def __init__(self, brief: Briefing):
        super().__init__(orientation="P", unit="mm", format="A4")
        self.brief = brief
        self.add_font(_FONT, "", str(_FONT_DIR / "DejaVuSans.ttf"))
        self.add_font(_FONT, "B", str(_FONT_DIR / "DejaVuSans-Bold.ttf"))
        self.add_font(_FONT, "I", str(_FONT_DIR / "DejaVuSans-Oblique.ttf"))
        self.set_auto_page_break(True, margin=15)
        self.set_margins(15, 15, 15)
        self.set_title(brief.title)
        self.set_creator(brief.meta.get("made_with", "vacuum"))

    def footer(self) -> None:
        self.set_y(-11)
        self.set_font(_FONT, "", 7.5)
        self.set_text_color(110)
        self.cell(0, 5, f"{self.brief.title} · {self.brief.subtitle} · page {self.page_no()}", align="C")
        self.set_text_color(0)


def _para(pdf: _Doc, p: Para) -> None:
    if p.kind == "warning":
        pdf.set_fill_color(255, 244, 229)
        pdf.set_font(_FONT, "", 9)
        pdf.multi_cell(0, 4.6, p.text, fill=True, new_x="LMARGIN", new_y="NEXT")
    else:
        pdf.set_font(_FONT, "I" if p.kind == "note" else "", 8.5 if p.kind == "note" else 10)
        pdf.multi_cell(0, 4.6 if p.kind == "note" else 5.2, p.text, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1.5)


def _bullets(pdf: _Doc, b: Bullets) -> None:
    pdf.set_font(_FONT, "", 10)
    for item in b.items:
        pdf.set_x(pdf.l_margin + 3)
        pdf.multi_cell(0, 5.2, f"• {item}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1.5)


def _table(pdf: _Doc, t: Table) -> None:
    pdf.set_font(_FONT, "", 8)
    num = t.numeric or (False,) * len(t.header)
    has_head = any(t.header)
    with pdf.table(first_row_as_headings=has_head, text_align=tuple("RIGHT" if n else "LEFT" for n in num),
                   headings_style=FontFace(emphasis="BOLD", fill_color=(242, 240, 247)),
                   line_height=4.4, padding=0.8, borders_layout="HORIZONTAL_LINES") as table:
        if has_head:
            row = table.row()
            for h in t.header:
                row.cell(h)
        for r in t.rows:
            row = table.row()
            for c in r:
                row.cell(c)
    if t.caption:
        pdf.set_font(_FONT, "I", 7.5)
        pdf.multi_cell(0, 4, t.caption, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)


def _figure(pdf: _Doc, f: Figure) -> None:
    from PIL import Image

    with Image.open(io.BytesIO(f.png)) as im:
        w_px, h_px = im.size
    width = pdf.epw
    height = width * h_px / w_px
    if height > 200:
        height, width = 200, 200 * w_px / h_px
    if pdf.get_y() + height + 10 > pdf.page_break_trigger:
        pdf.add_page()
    pdf.image(io.BytesIO(f.png), x=pdf.l_margin, w=width, h=height)
    pdf.set_font(_FONT, "I", 8)
    pdf.multi_cell(0, 4, f.caption, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)


def _block(pdf: _Doc, b: Block) -> None:
    if isinstance(b, Para):
        _para(pdf, b)
    elif isinstance(b, Bullets):
        _bullets(pdf, b)
    elif isinstance(b, Table):
        _table(pdf, b)
    else:
        _figure(pdf, b)


def render_pdf(brief: Briefing) -> bytes:
    """The PDF bytes: a title block, then each section (a heading never left alone at a page foot)."""
    pdf = _Doc(brief)
    pdf.add_page()
    pdf.set_font(_FONT, "B", 16)
    pdf.multi_cell(0, 8, brief.title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(_FONT, "", 10)
    pdf.set_text_color(80)
    pdf.multi_cell(0, 5, brief.subtitle, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0)
    pdf.ln(3)
    for i, s in enumerate(brief.sections, start=1):
        if pdf.get_y() + 30 > pdf.page_break_trigger:
            pdf.add_page()
        pdf.start_section(f"{i}. {s.title}")
        pdf.set_font(_FONT, "B", 12.5)
        pdf.set_draw_color(63, 0, 125)
        pdf.cell(0, 7, f"{i}. {s.title}", border="B", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
        for b in s.blocks:
            _block(pdf, b)
    return bytes(pdf.output())
