"""The learner stays env-agnostic and UI-free: marl imports nothing of qmix_logistics but common, and no
terminal library; the test games are not part of its public API."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from qmix_logistics import marl
from tests.conftest import ROOT

MARL_DIR = Path(marl.__file__).parent
ALLOWED = ("qmix_logistics.marl", "qmix_logistics.common")


def _allowed(module: str) -> bool:
    """True for non-project modules and for marl's own and common's."""
    if module != "qmix_logistics" and not module.startswith("qmix_logistics."):
        return True
    return any(module == prefix or module.startswith(prefix + ".") for prefix in ALLOWED)


def _project_imports(path: Path) -> list[str]:
    """Every module an import statement in ``path`` names, anywhere in the file (function bodies too);
    relative imports are resolved against qmix_logistics.marl."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                module = node.module or ""
                # `from qmix_logistics import x` may name a subpackage: check each name as a module too
                names += [module] if module != "qmix_logistics" else [f"{module}.{a.name}" for a in node.names]
            else:
                base = ".".join(["qmix_logistics", "marl"][: 3 - node.level])  # level 1 = marl, 2 = the root
                names.append(f"{base}.{node.module}" if node.module else base)
    return names


def test_no_marl_source_file_imports_the_rest_of_the_package() -> None:
    files = sorted(MARL_DIR.glob("*.py"))
    assert len(files) > 10  # the walk really found the package
    offending = {f.name: bad for f in files if (bad := [m for m in _project_imports(f) if not _allowed(m)])}
    assert offending == {}


def test_the_checker_flags_imports_of_other_layers(tmp_path: Path) -> None:
    source = tmp_path / "bad.py"
    source.write_text("import qmix_logistics\nfrom qmix_logistics import env\nfrom ..policies import base\n"
                      "def f():\n    from qmix_logistics.scenario import Scenario\n")
    bad = [m for m in _project_imports(source) if not _allowed(m)]
    assert bad == ["qmix_logistics", "qmix_logistics.env", "qmix_logistics.policies", "qmix_logistics.scenario"]


_SCRIPT = """
import importlib, json, pkgutil, sys
from qmix_logistics import marl
for info in pkgutil.iter_modules(marl.__path__):
    importlib.import_module(f"qmix_logistics.marl.{info.name}")
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in ("qmix_logistics", "rich", "typer"))))
"""


def test_importing_every_marl_module_loads_only_marl_common_and_the_bare_package_root() -> None:
    res = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    loaded = json.loads(res.stdout.strip().splitlines()[-1])
    assert "qmix_logistics.marl.trainer" in loaded and "qmix_logistics.marl.testing" in loaded
    project = [name for name in loaded if name.split(".")[0] == "qmix_logistics"]
    assert [name for name in project if name != "qmix_logistics" and not _allowed(name)] == []
    assert [name for name in loaded if name.split(".")[0] in ("rich", "typer")] == []  # no terminal UI


def test_public_api_is_explicit_and_leaves_the_test_games_out() -> None:
    assert not hasattr(marl, "__getattr__")
    assert set(marl.__all__) <= set(vars(marl))  # every exported name is really defined
    assert {"LearnerConfig", "train", "TrainResult", "TrainProgress", "load_policy", "load_checkpoint",
            "CHECKPOINT_NAME", "DecentralizedPolicy", "QLearner", "QMixer", "VDNMixer", "EpisodeBuffer"} <= set(
        marl.__all__)
    assert not {"TwoStepGame", "make_two_step_game", "two_step_config"} & set(marl.__all__)
    assert not hasattr(marl, "TwoStepGame")
