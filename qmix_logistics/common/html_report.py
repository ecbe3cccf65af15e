"""One self-contained HTML report: inline CSS, tables as HTML, figures embedded as base64 PNG.

Evaluations and planning studies both publish through it, so it lives below both of them.

A report is a title and a list of sections; a section has a heading, optional text, tables and
figures. The result is a single file that opens anywhere (mail it, attach it to a ticket) with no
network access and no folder of images beside it.

Example::

    from qmix_logistics.common.html_report import Section, render_report, write_report

    html = render_report("Fleet study", [
        Section("Summary", text="Greedy dispatch on 3 days.", tables=[rows]),       # rows: list of dicts
        Section("Figures", figures=[("Service level", png_bytes)]),
    ])
    write_report("reports/study.html", "Fleet study", sections)

Tables are a list of dict rows (keys are columns, first row's keys set the order) or a pandas
DataFrame; give ``(caption, table)`` to add a caption. Figures are PNG bytes or ``(caption, bytes)``.
Text is plain: blank lines separate paragraphs and everything is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence, Union

from qmix_logistics.common.atomic_io import atomic_write_text
from qmix_logistics.common.formatting import format_number

Rows = Sequence[Mapping[str, Any]]
TableLike = Union[Rows, Any]  # list of dict rows, or a pandas DataFrame
TableItem = Union[TableLike, tuple[str, TableLike]]
FigureItem = Union[bytes, tuple[str, bytes]]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:1200px;
padding:0 1rem;color:#222;line-height:1.45}
h1{border-bottom:2px solid #333;padding-bottom:.3rem}h2{margin-top:2.2rem;border-bottom:1px solid #ccc}
.meta{color:#666;font-size:.9rem}
table{border-collapse:collapse;margin:.8rem 0;font-size:.85rem}
th,td{border:1px solid #ddd;padding:.25rem .55rem}th{background:#f3f3f3;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}tr:nth-child(even) td{background:#fafafa}
caption{caption-side:top;text-align:left;font-weight:600;padding:.3rem 0}
figure{margin:1rem 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{color:#555;font-size:.9rem}
""".strip()


@dataclass
class Section:
    """A heading with optional plain text, tables and PNG figures, rendered in that order."""

    heading: str
    text: str = ""
    tables: Sequence[TableItem] = field(default_factory=list)
    figures: Sequence[FigureItem] = field(default_factory=list)


def _records(table: TableLike) -> list[Mapping[str, Any]]:
    if hasattr(table, "to_dict") and hasattr(table, "columns"):  # a pandas DataFrame
        return table.to_dict(orient="records")
    return list(table)


def _split(item: Any) -> tuple[str, Any]:
    """``(caption, thing)`` or a bare thing."""
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
        return item[0], item[1]
    return "", item


def render_table(table: TableLike, caption: str = "") -> str:
    """An HTML table; numeric cells are right-aligned."""
    rows = _records(table)
    if not rows:
        return f"<p><em>{html.escape(caption or 'table')}: no rows</em></p>"
    columns = list(rows[0].keys())
    for row in rows[1:]:
        columns += [c for c in row if c not in columns]
    out = ["<table>"]
    if caption:
        out.append(f"<caption>{html.escape(caption)}</caption>")
    out.append("<tr>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in columns) + "</tr>")
    for row in rows:
        cells = []
        for c in columns:
            v = row.get(c)
            cls = ' class="num"' if isinstance(v, (int, float)) and not isinstance(v, bool) else ""
            cells.append(f"<td{cls}>{html.escape(format_number(v))}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def render_figure(png: bytes, caption: str = "") -> str:
    """An <img> with the PNG inlined as a data URI."""
    if not png.startswith(_PNG_SIGNATURE):
        raise ValueError("figures must be PNG bytes")
    data = base64.b64encode(png).decode("ascii")
    alt = html.escape(caption or "figure")
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img alt="{alt}" src="data:image/png;base64,{data}">{cap}</figure>'


def _paragraphs(text: str) -> str:
    blocks = [b.strip() for b in text.split("\n\n") if b.strip()]
    return "\n".join(f"<p>{html.escape(b)}</p>" for b in blocks)


def render_report(title: str, sections: Sequence[Section], *, subtitle: str = "") -> str:
    """The whole report as one HTML string (UTF-8, no external resources)."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    meta = html.escape(f"{subtitle} · generated {stamp}" if subtitle else f"generated {stamp}")
    body = [f"<h1>{html.escape(title)}</h1>", f'<p class="meta">{meta}</p>']
    for section in sections:
        body.append(f"<section><h2>{html.escape(section.heading)}</h2>")
        if section.text:
            body.append(_paragraphs(section.text))
        for item in section.tables:
            caption, table = _split(item)
            body.append(render_table(table, caption))
        for item in section.figures:
            caption, png = _split(item)
            body.append(render_figure(png, caption))
        body.append("</section>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>\n<body>\n"
        + "\n".join(body) + "\n</body></html>\n"
    )


def write_report(path: str | Path, title: str, sections: Sequence[Section], *, subtitle: str = "") -> Path:
    """Render and write the report atomically; returns the path."""
    path = Path(path)
    atomic_write_text(path, render_report(title, sections, subtitle=subtitle))
    return path
