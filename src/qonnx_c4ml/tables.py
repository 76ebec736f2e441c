"""Tables as text: aligned plain text (terminal), Markdown and HTML (reports).

Every table the package prints or writes goes through here: `text_lines` (the sweep table,
the demo summary; `chisel.stream.generate.format_report`), `markdown` and `html`
(report.md/.html, sweep.md/.html). Cells are strings; the caller formats the numbers.
"""
import html as _html
import re

SEPARATOR = "  "


def text_lines(rows, left=None):
    """`rows` (lists of str, header first if any) as lines with every column padded to its
    widest cell and joined by two spaces. `left`: indices of left-aligned columns (default:
    all); the others are right-aligned. Trailing blanks are stripped."""
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) if left is None or i in left else cell.rjust(width)
                 for i, (cell, width) in enumerate(zip(row, widths))]
        lines.append(SEPARATOR.join(cells).rstrip())
    return lines


def _markdown_cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(header, rows):
    """A Markdown table: the first column left-aligned, the others right-aligned; `|` escaped."""
    lines = ["| " + " | ".join(_markdown_cell(h) for h in header) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(_markdown_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _html_cell(value):
    text = str(value)
    align = ' class="t"' if re.search("[A-Za-z]", text) else ""  # words left, numbers right
    return f"<td{align}>{_html.escape(text)}</td>"


def html(header, rows, cls=None):
    """An HTML table (escaped); cells with letters get class "t" (left-aligned by the report CSS)."""
    head = "".join(f"<th>{_html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(_html_cell(c) for c in row) + "</tr>" for row in rows)
    attribute = f' class="{cls}"' if cls else ""
    return f"<table{attribute}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
