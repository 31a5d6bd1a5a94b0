"""MkDocs hook: the API page of drnet.data lists the DataModules that ``drnet.data`` imports on
first use (its ``_LAZY`` table: name -> module), read from the source, so the page follows the
package when a DataModule moves between modules."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

MARKER = "<!-- drnet-lazy-datamodules -->"
DATA_INIT = Path(__file__).resolve().parents[1] / "src" / "drnet" / "data" / "__init__.py"


def lazy_names() -> dict[str, str]:
    """``drnet.data``'s table of names imported on first use, read without importing it."""
    for node in ast.parse(DATA_INIT.read_text()).body:
        targets = [node.target] if isinstance(node, ast.AnnAssign) else getattr(node, "targets", [])
        if any(isinstance(t, ast.Name) and t.id == "_LAZY" for t in targets):
            return ast.literal_eval(node.value)
    raise RuntimeError(f"{DATA_INIT}: no _LAZY table of DataModules to document")


def on_page_markdown(markdown: str, **_: Any) -> str:
    if MARKER not in markdown:
        return markdown
    blocks = [f"::: {module}.{name}\n" for name, module in lazy_names().items()]
    return markdown.replace(MARKER, "\n".join(blocks))
