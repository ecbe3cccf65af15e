"""The package's layers: every module imports only from its own layer or the ones below it."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "qmix_logistics"

#: Lower rank = lower layer. marl/ and planning/ know nothing of the simulator above common/.
RANK = {
    "common": 0, "scenario": 1, "network": 2, "sim": 3, "env": 4, "planning": 1, "marl": 1,
    "policies": 5, "teaching": 6, "evaluation": 7, "studies": 8, "serving": 8, "training": 9,
}
ALLOWED_ROOT = {"__version__"}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "qmix_logistics" else None


def _imports(path: Path) -> list[tuple[int, str]]:
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level)[0]
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            if module == "qmix_logistics" and all(a.name in ALLOWED_ROOT for a in node.names):
                continue
            found.append((node.lineno, module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
    return found


def test_no_module_imports_from_a_layer_above_it() -> None:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        own = _layer(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts))
        if own is None or own == "__init__":
            continue
        for line, module in _imports(path):
            theirs = _layer(module)
            if theirs is None or theirs == own:
                continue
            if theirs not in RANK or RANK[theirs] > RANK[own] or (own in ("marl", "planning") and theirs != "common"):
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}")
    assert not wrong, "\n".join(wrong)


def test_every_layer_is_ranked() -> None:
    layers = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    layers |= {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert layers <= set(RANK), layers - set(RANK)
