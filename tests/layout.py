"""The harness's layers as the package docstring states them, and the README's Layout section made from them.

``python tests/layout.py`` prints the section (paste it between the README's layout markers);
``tests/test_layers.py`` checks the imports against the layers, ``tests/test_docs.py`` the README against this.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import autograd_conformance

PACKAGE = Path(autograd_conformance.__file__).parent
MODULES = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}


def layers() -> list[tuple[str, str, list[str]]]:
    """(heading, text, modules) per layer, in the docstring's order (top layer first)."""
    doc = autograd_conformance.__doc__ or ""
    body = doc.split("\n\n", 2)[2].split("\n\n(PYTEST_DONT_REWRITE")[0]
    out = []
    for block in re.split(r"\n(?=\S)", body.strip()):
        heading, _, text = block.partition("\n")
        text = " ".join(line.strip() for line in text.splitlines())
        modules = [m for m in dict.fromkeys(re.findall(r"``(\w+)``", text)) if m in MODULES]
        out.append((heading.strip(), text, modules))
    return out


def layout_markdown() -> str:
    """The README's description of the harness package, layer by layer, from the package docstring."""
    lines = textwrap.wrap("- `src/autograd_conformance/`, the harness, one job per module, in layers (each imports "
                          "only from its own layer and the layers above it, type-checking imports included; "
                          "`tests/test_layers.py` keeps it so):", 112, subsequent_indent="  ")
    for heading, text, _ in layers():
        named = re.sub(r"``(\w+)``", lambda m: f"`{m.group(1)}.py`" if m.group(1) in MODULES else f"`{m.group(1)}`",
                       text).replace("``", "`")
        name, _, aside = heading.partition(": ")
        lines += textwrap.wrap(f"- *{name}*{f' ({aside})' if aside else ''}: {named}", 112, initial_indent="  ",
                               subsequent_indent="    ", break_on_hyphens=False)
    return "\n".join(lines)


if __name__ == "__main__":
    print(layout_markdown())
