"""Rendering a ``Report`` twice: Markdown (figures as PNG files beside it) and self-contained HTML (figures as
base64 PNG data URIs, CSS inline, no scripts or external assets)."""

from __future__ import annotations

import base64
import html

from bayes_distill.report.content import Figure, Report, Section, Table

# -- Markdown --------------------------------------------------------------------------------------------------


def md_escape(text: str) -> str:
    """Text safe in Markdown paragraphs and table cells: backslashes, asterisks, pipes and angle brackets escaped."""
    for char in ("\\", "*", "|", "<", ">"):
        text = text.replace(char, "\\" + char)
    return text.replace("\n", " ")


def md_table(table: Table) -> list[str]:
    """A pipe table, its caption in bold above it, its first column left-aligned and the others (numbers)
    right-aligned; a key-value table (a header of empty cells) stays empty and left-aligned."""
    lines = [f"**{md_escape(table.caption)}**", ""] if table.caption else []
    lines.append("| " + " | ".join(md_escape(h) for h in table.headers) + " |")
    rest = "---:|" if any(table.headers) else "---|"
    lines.append("|---|" + rest * (len(table.headers) - 1))
    lines += ["| " + " | ".join(md_escape(c) for c in row) + " |" for row in table.rows]
    return [*lines, ""]


def md_figure(figure: Figure) -> list[str]:
    """The figure's image, linked to its PNG file beside the Markdown, or its failure note."""
    if figure.failed:
        return [f"> **{md_escape(figure.failure_note)}**", ""]
    return [f"![{md_escape(figure.title)}]({figure.filename})", "", f"*{md_escape(figure.caption)}*", ""]


def md_section(section: Section) -> list[str]:
    """A section: its heading, paragraphs, notes (as block quotes), tables and figures."""
    lines = [f"## {md_escape(section.title)}", ""]
    lines += [line for p in section.paragraphs for line in (md_escape(p), "")]
    lines += [line for n in section.notes for line in (f"> **Warning:** {md_escape(n)}", "")]
    lines += [line for t in section.tables for line in md_table(t)]
    lines += [line for f in section.figures for line in md_figure(f)]
    return lines


def to_markdown(report: Report) -> str:
    """The report as Markdown; its figures are referenced by file name (``<figure>.png`` in the same folder)."""
    lines = [f"# {md_escape(report.title)}", "", *md_table(report.header)]
    lines += [line for s in report.sections for line in md_section(s)]
    return "\n".join(lines).rstrip() + "\n"


# -- HTML ------------------------------------------------------------------------------------------------------
CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1f2328; line-height: 1.5;
       max-width: 1200px; margin: 2em auto; padding: 0 1.5em; }
h1 { font-size: 1.7em; border-bottom: 2px solid #d0d7de; padding-bottom: .3em; }
h2 { font-size: 1.3em; margin-top: 2em; border-bottom: 1px solid #d0d7de; padding-bottom: .2em; }
.scroll { overflow-x: auto; margin: .5em 0 1.5em; }
table { border-collapse: collapse; font-size: .85em; font-variant-numeric: tabular-nums; }
.caption { font-weight: 600; margin: 1.2em 0 .3em; }
th, td { border: 1px solid #d0d7de; padding: .25em .6em; text-align: right; white-space: nowrap; }
th { background: #f6f8fa; }
td .interval { display: block; font-size: .85em; color: #57606a; }
td:first-child, th:first-child { text-align: left; }
tbody tr:nth-child(even) { background: #fafbfc; }
table.header td { white-space: normal; text-align: left; }
table.header td:first-child { font-weight: 600; white-space: nowrap; background: #f6f8fa; }
figure { margin: 1em 0 2em; }
figure img { max-width: 100%; height: auto; border: 1px solid #eaeef2; }
figcaption { font-size: .9em; color: #57606a; }
.note { background: #fff8c5; border-left: 4px solid #d4a72c; padding: .5em .8em; margin: .8em 0; }
.failed { background: #ffebe9; border-left: 4px solid #cf222e; padding: .6em .8em; margin: 1em 0;
          font-weight: 600; color: #82071e; }
"""


def html_cell(text: str) -> str:
    """A table cell; a ``median [low, high]`` cell puts its interval on a second, smaller line."""
    median, bracket, interval = text.partition(" [")
    if not bracket or not text.endswith("]"):
        return f"<td>{html.escape(text)}</td>"
    return f'<td>{html.escape(median)}<span class="interval">[{html.escape(interval)}</span></td>'


def html_table(table: Table, css_class: str = "") -> str:
    """A table under its caption, in a horizontally scrolling box; an all-empty header row is left out."""
    attrs = f' class="{css_class}"' if css_class else ""
    parts = [f'<p class="caption">{html.escape(table.caption)}</p>'] if table.caption else []
    parts.append(f'<div class="scroll"><table{attrs}>')
    if any(table.headers):
        parts.append("<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in table.headers) + "</tr></thead>")
    body = "".join("<tr>" + "".join(html_cell(c) for c in row) + "</tr>" for row in table.rows)
    parts.append(f"<tbody>{body}</tbody></table></div>")
    return "".join(parts)


def html_figure(figure: Figure) -> str:
    """The figure as an embedded PNG (a data URI), or its failure note."""
    if figure.failed:
        return f'<div class="failed">{html.escape(figure.failure_note)}</div>'
    data = base64.b64encode(figure.png).decode("ascii")
    return (f'<figure id="{html.escape(figure.name)}"><img src="data:image/png;base64,{data}" '
            f'alt="{html.escape(figure.title)}"><figcaption><strong>{html.escape(figure.title)}.</strong> '
            f"{html.escape(figure.caption)}</figcaption></figure>")


def html_section(section: Section) -> str:
    """A section: heading, paragraphs, notes, tables, figures."""
    parts = [f"<section><h2>{html.escape(section.title)}</h2>"]
    parts += [f"<p>{html.escape(p)}</p>" for p in section.paragraphs]
    parts += [f'<div class="note"><strong>Warning:</strong> {html.escape(n)}</div>' for n in section.notes]
    parts += [html_table(t) for t in section.tables]
    parts += [html_figure(f) for f in section.figures]
    return "\n".join(parts) + "\n</section>"


def to_html(report: Report) -> str:
    """The report as one self-contained HTML page."""
    title = html.escape(report.title)
    body = "\n".join([f"<h1>{title}</h1>", html_table(report.header, "header"),
                      *(html_section(s) for s in report.sections)])
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{title}</title>\n'
            f"<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")
