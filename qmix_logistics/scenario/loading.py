"""Read a scenario YAML file into the validated :class:`Scenario`, naming the field of any mistake.

Relative file paths are made relative to the scenario file. Nothing here builds a road network:
node references are resolved by :func:`qmix_logistics.network.nodes.check_references`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from qmix_logistics.common.errors import QlogError
from qmix_logistics.scenario.schema import GraphMLNetwork, Scenario, TNTPNetwork


def _format_loc(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if not (isinstance(p, str) and p in _UNION_TAGS)]
    return ".".join(parts) or "(top level)"


_UNION_TAGS = {"grid", "random_geometric", "graphml", "tntp", "int", "str", "literal['center']"}


def _resolve_paths(scenario: Scenario, base: Path) -> Scenario:
    """Make relative file paths relative to the scenario file, then check they exist."""
    checks: list[tuple[str, BaseModel, str]] = []
    if isinstance(scenario.network, (GraphMLNetwork, TNTPNetwork)):
        checks.append(("network.path", scenario.network, "path"))
        if isinstance(scenario.network, TNTPNetwork) and scenario.network.nodes_path is not None:
            checks.append(("network.nodes_path", scenario.network, "nodes_path"))
    if scenario.demand.csv is not None:
        checks.append(("demand.csv", scenario.demand, "csv"))
    for field_path, model, attr in checks:
        p: Path = getattr(model, attr)
        if not p.is_absolute():
            p = (base / p).resolve()
            setattr(model, attr, p)
        if not p.exists():
            raise QlogError(f"file not found: {p}", field=field_path)
    return scenario


def scenario_from_dict(data: Any, *, source: str = "<dict>", base_dir: Path | None = None) -> Scenario:
    """Validate a plain dict; errors name the source and the first offending field path."""
    if not isinstance(data, dict):
        raise QlogError("the scenario must be a mapping of keys to values", source=source)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise QlogError(f"{err['msg']}{more}", source=source, field=_format_loc(tuple(err["loc"]))) from None
    try:
        return _resolve_paths(scenario, base_dir or Path.cwd())
    except QlogError as exc:
        raise QlogError(exc.reason, source=source, field=exc.field) from None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file."""
    path = Path(path)
    if not path.exists():
        raise QlogError("scenario file not found", source=str(path))
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise QlogError(f"not valid YAML{where}", source=str(path)) from None
    return scenario_from_dict(data, source=str(path), base_dir=path.parent)
