"""The briefing as one self-contained HTML page: CSS inline, figures as data URIs, no link out."""

from __future__ import annotations

import base64
import html

from .document import Briefing, Bullets, Figure, Para, Section, Table

__all__ = ["render_html"]

_CSS = """
body { font-family: "DejaVu Sans", Arial, Helvetica, sans-serif; color: #222; max-width: 60em; margin: 1.5em auto;
  padding: 0 1em; line-height: 1.4; font-size: 14px; }
h1 { font-size: 1.5em; margin-bottom: 0.1em; } .subtitle { color: #555; margin-top: 0; }
h2 { font-size: 1.2em; border-bottom: 2px solid #3f007d; padding-bottom: 2px; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.5em 0 1em 0; font-size: 12.5px; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f2f0f7; } td.num { text-align: right; white-space: nowrap; }
caption { caption-side: bottom; text-align: left; color: #555; font-size: 11.5px; padding-top: 3px; }
figure { margin: 0.8em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { color: #444; font-size: 12px; } .note { color: #555; font-size: 12px; }
.warning { background: #fff4e5; border-left: 4px solid #e66101; padding: 4px 8px; }
nav ol { columns: 2; font-size: 13px; }
@media print { h2 { page-break-after: avoid; } figure, table { page-break-inside: avoid; } nav { display: none; } }
"""


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _table(t: Table) -> str:
    num = t.numeric or (False,) * len(t.header)
    head = "" if not any(t.header) else "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in t.header) + "</tr>"
    body = "".join("<tr>" + "".join(f'<td{" class=num" if n else ""}>{_e(c)}</td>'
                                    for c, n in zip(r, num, strict=False)) + "</tr>" for r in t.rows)
    cap = f"<caption>{_e(t.caption)}</caption>" if t.caption else ""
    return f"<table>{cap}{head}{body}</table>"


def _block(b) -> str:
    if isinstance(b, Para):
        return f'<p class="{b.kind}">{_e(b.text)}</p>'
    if isinstance(b, Bullets):
        return "<ul>" + "".join(f"<li>{_e(i)}</li>" for i in b.items) + "</ul>"
    if isinstance(b, Table):
        return _table(b)
    if isinstance(b, Figure):
        data = base64.b64encode(b.png).decode("ascii")
        return (f'<figure><img src="data:image/png;base64,{data}" alt="{_e(b.alt or b.caption)}">'
                f"<figcaption>{_e(b.caption)}</figcaption></figure>")
    raise TypeError(f"unknown briefing block {type(b).__name__}")


def _section(i: int, s: Section) -> str:
    return f'<section id="s{i}"><h2>{i}. {_e(s.title)}</h2>' + "".join(_block(b) for b in s.blocks) + "</section>"


def render_html(brief: Briefing) -> str:
    """The page: title, a table of contents, the sections; nothing loaded from elsewhere."""
    toc = "".join(f'<li><a href="#s{i}">{_e(s.title)}</a></li>' for i, s in enumerate(brief.sections, start=1))
    body = "".join(_section(i, s) for i, s in enumerate(brief.sections, start=1))
    foot = _e(f"Made with {brief.meta.get('made_with', 'vacuum')}.")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(brief.title)} ({_e(brief.subtitle)})</title><style>{_CSS}</style></head><body>"
            f'<h1>{_e(brief.title)}</h1><p class="subtitle">{_e(brief.subtitle)}</p>'
            f"<nav><ol>{toc}</ol></nav>{body}<p class=note>{foot}</p></body></html>")
