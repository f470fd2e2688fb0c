"""Rules of the house that a reader relies on: torch's private API lives in one module."""

from __future__ import annotations

import ast
import pathlib

import compdebug

PACKAGE = pathlib.Path(compdebug.__file__).parent
PRIVATE_ROOM = PACKAGE / "_torch.py"


def _sources() -> list[pathlib.Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p != PRIVATE_ROOM)


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _private_uses(path: pathlib.Path) -> list[str]:
    """Where `path` names a private part of torch: `torch._x`, `from torch._x import`, `torch.utils._x`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Attribute):
            dotted = _dotted(node)
            if dotted is not None:
                names.append(dotted)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "torch" and any(p.startswith("_") and not p.startswith("__") for p in parts[1:]):
                found.append(f"{path.name}:{node.lineno}: {name}")
    return found


def test_torch_private_api_is_used_only_in_compdebug_torch():
    uses = [use for path in _sources() for use in _private_uses(path)]
    assert not uses, "torch's private API outside compdebug/_torch.py:\n" + "\n".join(uses)


def test_the_check_sees_a_private_use(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import torch\nfrom torch._dynamo import reset\nx = torch._inductor.config\ny = torch.nn.functional\n")
    uses = _private_uses(sample)
    assert any("torch._dynamo" in use for use in uses) and any("torch._inductor" in use for use in uses)
    assert not any("torch.nn" in use for use in uses)
