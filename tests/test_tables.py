"""qonnx_c4ml.tables: aligned text, Markdown and HTML tables."""
from qonnx_c4ml import tables


def test_text_lines_pads_columns_and_aligns():
    rows = [["name", "n"], ["a", "1000"], ["longer", "7"]]
    assert tables.text_lines(rows) == ["name    n", "a       1000", "longer  7"]
    assert tables.text_lines(rows, left={0}) == ["name       n", "a       1000", "longer     7"]
    assert tables.text_lines([]) == []


def test_text_lines_strips_trailing_blanks():
    assert tables.text_lines([["x", ""], ["yy", "z"]]) == ["x", "yy  z"]


def test_markdown_escapes_pipes_and_newlines_and_right_aligns_numbers():
    text = tables.markdown(["key", "value"], [["a|b", "1"], ["two\nlines", "2"]])
    assert text.splitlines() == ["| key | value |", "|---|---:|", "| a\\|b | 1 |", "| two lines | 2 |"]


def test_html_escapes_and_marks_word_cells():
    text = tables.html(["h<1>", "n"], [["a&b", "12"]], cls="kv")
    assert text == ('<table class="kv"><thead><tr><th>h&lt;1&gt;</th><th>n</th></tr></thead>'
                    '<tbody><tr><td class="t">a&amp;b</td><td>12</td></tr></tbody></table>')
    assert tables.html(["a"], []).startswith("<table><thead>")
