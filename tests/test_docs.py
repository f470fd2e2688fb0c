"""Every ```python block in docs/ runs: blocks of one page in order, in a fresh process."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
PAGES = sorted(p for p in DOCS.glob("*.md") if BLOCK.search(p.read_text()))


def page_source(page: pathlib.Path) -> str:
    blocks = BLOCK.findall(page.read_text())
    return "\n\n".join(f"# --- block {i + 1} of {page.name}\n{block}" for i, block in enumerate(blocks))


def test_docs_have_examples():
    assert DOCS.joinpath("index.md").exists()
    assert PAGES, "docs/ has no python examples"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_examples_run(page, tmp_path):
    script = tmp_path / f"{page.stem}_examples.py"
    script.write_text(page_source(page))
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{page.name} examples failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
