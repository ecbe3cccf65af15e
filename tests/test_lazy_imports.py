"""Engines load only when used: an OR-Tools dispatcher never imports PyVRP (a fresh interpreter checks it)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests.conftest import ROOT

# One OR-Tools decision, then one PyVRP decision, recording which engine modules are loaded after each.
_SCRIPT = textwrap.dedent("""
    import json, sys
    from qmix_logistics.env import DispatchEnv
    from qmix_logistics.policies.rolling_horizon import RollingHorizonPolicy
    from qmix_logistics.scenario import scenario_from_dict
    from tests.conftest import small_scenario_dict

    env = DispatchEnv(scenario_from_dict(small_scenario_dict()))
    seen = {}
    for engine in ("ortools", "pyvrp"):
        env.reset(seed=3)
        policy = RollingHorizonPolicy(engine, time_limit_s=0.1)
        policy.reset(env, 3)
        commands = policy.act(env)
        seen[engine] = {"plans": policy.stats.plans, "commands": len(commands),
                        "pyvrp": "pyvrp" in sys.modules, "ortools": "ortools" in sys.modules}
    print(json.dumps(seen))
""")


def test_an_ortools_decision_does_not_import_pyvrp() -> None:
    res = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=120, cwd=ROOT,
                         check=False)
    assert res.returncode == 0, res.stderr
    seen = json.loads(res.stdout.strip().splitlines()[-1])
    assert seen["ortools"]["plans"] == 1 and seen["ortools"]["commands"] > 0  # it really planned and decided
    assert seen["ortools"]["ortools"] and not seen["ortools"]["pyvrp"]
    assert seen["pyvrp"]["plans"] == 1 and seen["pyvrp"]["pyvrp"]  # the PyVRP engine still loads when asked for
