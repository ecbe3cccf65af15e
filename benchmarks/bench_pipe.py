"""What a pipe round trip of a worker's answer costs next to the env step itself: is shared memory worth it?

    python benchmarks/bench_pipe.py

A spawned echo process sends back the answer of a worker holding two depot.yaml envs (both directions carry
the full answer, so this slightly overstates the real exchange, whose outbound half is only the actions).
Prints figures only.
"""
import multiprocessing as mp
import pickle
import time
from pathlib import Path

from qmix_logistics.env.parallel_env import make_parallel_env
from qmix_logistics.marl.env_contract import EnvAdapter
from qmix_logistics.marl.runner import measure_step_seconds
from qmix_logistics.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]


def echo(conn) -> None:
    while True:
        msg = conn.recv()
        if msg is None:
            break
        conn.send(msg)


def main() -> None:
    adapter = EnvAdapter(make_parallel_env(load_scenario(ROOT / "scenarios" / "depot.yaml")), probe_seed=0)
    step_s = measure_step_seconds(adapter, 0, steps=400, budget_s=5.0)
    arrays = adapter.reset(1)
    payload = ("ok", {0: arrays, 1: arrays})  # a worker holding two envs answers with two steps
    size = len(pickle.dumps(payload))
    parent, child = mp.get_context("spawn").Pipe()
    proc = mp.get_context("spawn").Process(target=echo, args=(child,))
    proc.start()
    for _ in range(200):
        parent.send(payload)
        parent.recv()
    n = 3000
    started = time.perf_counter()
    for _ in range(n):
        parent.send(payload)
        parent.recv()
    rt = (time.perf_counter() - started) / n
    parent.send(None)
    proc.join()
    print(f"depot env step {1e3 * step_s:.3f} ms; pipe round trip of two steps' arrays ({size:,} bytes pickled) "
          f"{1e3 * rt:.3f} ms, i.e. {rt / 2 / step_s:.1%} of the step time per env")


if __name__ == "__main__":
    main()
