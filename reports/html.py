"""One self-contained HTML page: tables and PNG figures embedded as base64, no external files."""

from __future__ import annotations

import base64
import html
from pathlib import Path

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
code { background: #f4f4f4; padding: 0 0.2em; }
.note { color: #666; font-size: 0.9em; }
"""


def image_tag(png: str | Path, alt: str) -> str:
    """An ``<img>`` carrying the PNG file's bytes inline."""
    data = base64.b64encode(Path(png).read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def table(header: list[str], rows: list[list]) -> str:
    """An HTML table; floats are shown with 3 decimals (whole numbers as integers), None as a dash."""
    def cell(v):
        if v is None or (isinstance(v, float) and v != v):
            return "&ndash;"
        if isinstance(v, float):  # JSON gives counts such as n_unreliable_voxels back as floats
            return f"{v:.0f}" if v.is_integer() and abs(v) >= 1 else f"{v:.3f}"
        return html.escape(str(v))

    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def page(title: str, sections: list[tuple[str, str]]) -> str:
    """The whole document: ``sections`` are ``(heading, html body)`` pairs."""
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"]
    parts += [f"<h2>{html.escape(heading)}</h2>\n{body}" for heading, body in sections]
    parts.append("</body></html>")
    return "\n".join(parts)
