"""Text templates of the package's generated files, filled with `str.format` fields.

`fill(template, **fields)` reads `qonnx_c4ml/templates/<template>` (shipped as package data) and
returns `text.format(**fields)`; a literal brace in a template is written `{{` / `}}`. The
fields are computed by short functions next to their use (package.py, report.py); the
templates hold only text and `{field}` / `{field.attribute}` / `{field[key]}` references.
"""
from functools import lru_cache
from pathlib import Path

DIRECTORY = Path(__file__).parent


@lru_cache(maxsize=None)
def text(name):
    """The raw template `name` (UTF-8)."""
    return (DIRECTORY / name).read_text(encoding="utf-8")


def fill(template, **fields):
    """Template file `template` with its fields; a field it names but `fields` lacks is a KeyError."""
    return text(template).format(**fields)
