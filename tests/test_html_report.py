"""The HTML report: self-contained, tables from dict rows or DataFrames, figures inlined, text escaped."""

from __future__ import annotations

import base64
import io

import pandas as pd
import pytest
from matplotlib.figure import Figure

from qmix_logistics.common.formatting import format_number
from qmix_logistics.common.html_report import (
    Section,
    render_report,
    write_report,
)


def tiny_png() -> bytes:
    fig = Figure(figsize=(2, 2))
    fig.subplots().plot([0, 1], [1, 0])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def test_render_report_inlines_everything(tmp_path):
    png = tiny_png()
    rows = [{"policy": "greedy", "service_level": 0.9312, "km": 1234.5}, {"policy": "random", "service_level": 0.5}]
    frame = pd.DataFrame({"a": [1, 2], "b": ["x<y", "z"]})
    sections = [
        Section("Summary", text="First paragraph.\n\nSecond <b>not bold</b>.", tables=[("Rows", rows), frame]),
        Section("Figures", figures=[("A line", png), png]),
    ]
    html = render_report("Study & results", sections, subtitle="2 policies")
    assert html.startswith("<!DOCTYPE html>") and "<style>" in html
    assert "Study &amp; results" in html and "&lt;b&gt;not bold&lt;/b&gt;" in html and "x&lt;y" in html
    assert html.count("<table>") == 2 and "<caption>Rows</caption>" in html
    assert html.count("<p>") >= 2 and "0.931" in html and "1,234" in html
    assert html.count("data:image/png;base64,") == 2
    assert base64.b64encode(png).decode() in html
    assert "<figcaption>A line</figcaption>" in html
    assert "http://" not in html and "https://" not in html  # nothing to fetch
    path = write_report(tmp_path / "r.html", "Study", sections)
    assert path.read_text().count("<section>") == 2


def test_figures_must_be_png():
    with pytest.raises(ValueError, match="PNG"):
        render_report("x", [Section("bad", figures=[b"GIF89a..."])])


def test_cells():
    assert format_number(None) == "" and format_number(float("nan")) == ""
    assert format_number(3) == "3" and format_number(12.0) == "12" and format_number(0.12345) == "0.123"
    assert format_number(-1363.2) == "-1,363" and format_number("greedy") == "greedy" and format_number(True) == "True"
