"""Decision latency of a learned policy: in process, over HTTP, and against the rolling-horizon planner.

    python benchmarks/bench_serve.py                        # trains a throwaway depot.yaml checkpoint first
    python benchmarks/bench_serve.py --checkpoint runs/depot__0/checkpoint.pt
    python benchmarks/bench_serve.py --quick                # shorter runs

Figures (p50/p99 in ms, throughput in requests/s):

* in process, one thread: ``DecentralizedPolicy.act`` for one vehicle, and ``LearnedPolicy`` per step
  divided by the vehicles deciding in that step (as ``qlog simulate`` reports it); also with torch's
  default thread count, which on a busy machine can be far slower for such small networks;
* HTTP on 127.0.0.1 (server in a subprocess via ``qlog serve``): ``/v1/act`` and ``/v1/act/batch`` (whole
  fleet per call) under a fixed-rate open-loop schedule (latency counted from the scheduled send time, so
  a stalled server cannot hide queueing), and a closed-loop run where each client sends its next request
  as soon as the previous one returns;
* the OR-Tools rolling-horizon baseline's time per vehicle decision on a shortened depot.yaml day, if
  ``qmix_logistics.policies.rolling_horizon`` is installed.

Every load is bounded in requests and seconds and goes to loopback only. Prints figures; asserts nothing.
Targets: in-process p99 < 1 ms per vehicle decision, HTTP p99 < 10 ms at 200 requests/s.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qmix_logistics.env import DispatchEnv  # noqa: E402
from qmix_logistics.env.parallel_env import make_parallel_env  # noqa: E402
from qmix_logistics.evaluation.rollout import run_episode  # noqa: E402
from qmix_logistics.marl import LearnerConfig, load_policy, train  # noqa: E402
from qmix_logistics.policies.learned import LearnedPolicy  # noqa: E402
from qmix_logistics.scenario import Scenario, load_scenario  # noqa: E402
from qmix_logistics.serving.server import LOOPBACK, free_port, wait_ready  # noqa: E402
from qmix_logistics.training import run_metadata  # noqa: E402

JSON = {"content-type": "application/json"}
MAX_REQUESTS = 20_000  # hard cap on requests in any one HTTP run


def percentiles(ms: list[float] | np.ndarray) -> str:
    values = np.asarray(ms, dtype=float)
    if values.size == 0:
        return "no samples"
    return (f"p50 {np.percentile(values, 50):7.3f}  p99 {np.percentile(values, 99):7.3f}  "
            f"max {values.max():8.3f}  (n={values.size})")


def machine_line() -> str:
    load = os.getloadavg()
    return (f"{os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min), "
            f"torch {torch.__version__}")


# ------------------------------------------------------------------------------------------ inputs
def throwaway_checkpoint(scenario: Scenario, folder: Path) -> Path:
    """One short training round on the scenario: weights are untrained, but sizes are the real ones."""
    config = LearnerConfig(total_env_steps=1, learning_starts=0, batch_size=1, buffer_mb=32, eval_episodes=1,
                           device="cpu")
    result = train(functools.partial(make_parallel_env, scenario), config, folder,
                   extra_metadata=run_metadata(scenario, config.mixer))
    return result.checkpoint_path


def recorded_requests(checkpoint: Path, scenario: Scenario, limit: int = 2000) -> list[dict]:
    """Real per-vehicle request bodies (observation, mask, hidden, last action) from a greedy day."""
    policy, _ = load_policy(checkpoint)
    env = DispatchEnv(scenario)
    obs, masks = env.reset(seed=scenario.seed)
    n = env.n_agents
    hidden = np.zeros((n, policy.hidden_dim), dtype=np.float32)
    last = np.full(n, -1, dtype=np.int64)
    bodies: list[dict] = []
    done = False
    while not done and len(bodies) < limit:
        for v in range(n):
            bodies.append({"agent": v, "observation": obs[v].tolist(), "action_mask": masks[v].astype(int).tolist(),
                           "hidden": hidden[v].tolist(), "last_action": int(last[v])})
        actions, _, hidden = policy.act_batch(obs, masks, np.arange(n), last, hidden)
        last = actions
        obs, masks, _, done, _ = env.step(actions)
    return bodies


# ------------------------------------------------------------------------------------------ in process
def bench_in_process(checkpoint: Path, scenario: Scenario, bodies: list[dict], calls: int, threads: int) -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        policy, _ = load_policy(checkpoint)
        rows = [(np.asarray(b["observation"], np.float32), np.asarray(b["action_mask"]), b["agent"],
                 b["last_action"], np.asarray(b["hidden"], np.float32)) for b in bodies]
        for row in rows[:50]:
            policy.act(*row)
        single, cpu = [], []
        for i in range(calls):
            t0, c0 = time.perf_counter(), time.thread_time()
            policy.act(*rows[i % len(rows)])
            cpu.append((time.thread_time() - c0) * 1e3)
            single.append((time.perf_counter() - t0) * 1e3)
        print(f"  DecentralizedPolicy.act, one vehicle, wall  {percentiles(single)}")
        print(f"  DecentralizedPolicy.act, one vehicle, CPU   {percentiles(cpu)}")
        wall, cpu, steps = learned_policy_day(checkpoint, scenario)
        print(f"  LearnedPolicy per vehicle decision, wall  {percentiles(wall)}  ({steps} steps)")
        print(f"  LearnedPolicy per vehicle decision, CPU   {percentiles(cpu)}")
    finally:
        torch.set_num_threads(before)


def learned_policy_day(checkpoint: Path, scenario: Scenario) -> tuple[list[float], list[float], int]:
    """One day with LearnedPolicy, timed like run_episode: each step's decision time / vehicles deciding."""
    env = DispatchEnv(scenario)
    learned = LearnedPolicy.from_checkpoint(checkpoint, scenario)
    env.reset(seed=scenario.seed)
    learned.reset(env, scenario.seed)
    wall, cpu = [], []
    while not env.done:
        deciding = max(1, len(env.world.pending_decisions()))
        t0, c0 = time.perf_counter(), time.thread_time()
        commands = learned.act(env)
        cpu.append((time.thread_time() - c0) * 1e3 / deciding)
        wall.append((time.perf_counter() - t0) * 1e3 / deciding)
        env.step_commands(commands)
    return wall, cpu, len(wall)


# ------------------------------------------------------------------------------------------ HTTP
class ServerProcess:
    """``qlog serve`` on 127.0.0.1 in a subprocess; stopped on exit."""

    def __init__(self, checkpoint: Path) -> None:
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        cmd = [sys.executable, "-m", "qlog_cli.app", "serve", str(checkpoint), "--host", LOOPBACK,
               "--port", str(self.port), "--max-body-kb", "4096"]
        env = {k: v for k, v in os.environ.items() if k != "QLOG_TOKEN"}
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.log, env=env)

    def __enter__(self) -> str:
        try:
            wait_ready(self.url, timeout_s=120)
        except BaseException:
            self.stop()
            self.log.seek(0)
            sys.stderr.write(self.log.read()[-2000:].decode(errors="replace"))
            self.log.close()
            raise
        return self.url

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.log.close()

    def cpu_s(self) -> float | None:
        """CPU seconds the server process has used (Linux /proc), or None where unavailable."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def open_loop(url: str, path: str, payloads: list[bytes], rate: float, seconds: float, clients: int) -> dict:
    """Send ``rate * seconds`` requests on a fixed schedule spread over ``clients`` connections.

    Latency is measured from each request's scheduled time, so time spent waiting behind a slow answer
    counts (no coordinated omission).
    """
    total = min(int(rate * seconds), MAX_REQUESTS)
    start = time.perf_counter() + 0.2
    latency = np.full(total, np.nan)
    failed = [0]

    def worker(k: int) -> None:
        with httpx.Client(base_url=url, timeout=5.0) as client:
            for i in range(k, total, clients):
                due = start + i / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                try:
                    ok = client.post(path, content=payloads[i % len(payloads)], headers=JSON).status_code == 200
                except httpx.HTTPError:
                    ok = False
                latency[i] = (time.perf_counter() - due) * 1e3
                failed[0] += not ok

    _run_threads(worker, clients)
    elapsed = time.perf_counter() - start
    return {"latency_ms": latency[~np.isnan(latency)], "sent": total, "failed": failed[0],
            "throughput": total / elapsed}


def closed_loop(url: str, path: str, payloads: list[bytes], seconds: float, clients: int) -> dict:
    """Each client sends its next request when the previous one returns, for ``seconds`` (capped in count)."""
    deadline = time.perf_counter() + seconds
    samples: list[list[float]] = [[] for _ in range(clients)]
    failed = [0]
    per_client = MAX_REQUESTS // clients

    def worker(k: int) -> None:
        with httpx.Client(base_url=url, timeout=5.0) as client:
            i = k
            while time.perf_counter() < deadline and len(samples[k]) < per_client:
                t0 = time.perf_counter()
                try:
                    ok = client.post(path, content=payloads[i % len(payloads)], headers=JSON).status_code == 200
                except httpx.HTTPError:
                    ok = False
                samples[k].append((time.perf_counter() - t0) * 1e3)
                failed[0] += not ok
                i += clients

    start = time.perf_counter()
    _run_threads(worker, clients)
    elapsed = time.perf_counter() - start
    latency = np.concatenate([np.asarray(s) for s in samples])
    return {"latency_ms": latency, "sent": latency.size, "failed": failed[0], "throughput": latency.size / elapsed}


def _run_threads(worker, clients: int) -> None:
    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def report(label: str, run: dict, server_cpu_s: float | None, decisions_per_request: int = 1) -> None:
    rate = run["throughput"]
    extra = f", {rate * decisions_per_request:.0f} decisions/s" if decisions_per_request > 1 else ""
    cpu = f", server CPU {server_cpu_s / run['sent'] * 1e3:.2f} ms/req" if server_cpu_s is not None else ""
    cpu += f", client CPU {run['client_cpu_s'] / run['sent'] * 1e3:.2f} ms/req"
    print(f"  {label}\n      {percentiles(run['latency_ms'])}  {rate:.0f} req/s{extra}{cpu}, failed {run['failed']}")


def bench_http(checkpoint: Path, bodies: list[dict], n_agents: int, args: argparse.Namespace) -> None:
    singles = [json.dumps(b).encode() for b in bodies]
    fleets = [json.dumps(bodies[i:i + n_agents]).encode() for i in range(0, len(bodies) - n_agents + 1, n_agents)]
    server = ServerProcess(checkpoint)
    with server as url:
        with httpx.Client(base_url=url) as warm:
            for payload in singles[:100]:
                warm.post("/v1/act", content=payload, headers=JSON)
        print(f"  server {url} (qlog serve, 1 torch thread); clients: {args.clients} httpx threads in this process; "
              "CPU = CPU time per request of the server process and of this load generator, which a busy machine does "
              "not inflate the way it inflates wall-clock latency")
        for path, payloads, per_request in (("/v1/act", singles, 1), ("/v1/act/batch", fleets, n_agents)):
            name = f"{path} ({per_request} vehicle{'s' if per_request > 1 else ''})"
            for label, run in ((f"open loop {args.rate:.0f}/s x {args.seconds:.0f} s",
                                lambda: open_loop(url, path, payloads, args.rate, args.seconds, args.clients)),
                               (f"closed loop {args.closed_seconds:.0f} s, {args.clients} clients",
                                lambda: closed_loop(url, path, payloads, args.closed_seconds, args.clients))):
                cpu_before, client_before = server.cpu_s(), time.process_time()
                result = run()
                result["client_cpu_s"] = time.process_time() - client_before
                cpu_after = server.cpu_s()
                cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
                report(f"{name}, {label}", result, cpu, per_request)


# ------------------------------------------------------------------------------------------ planner
def bench_rolling_horizon(scenario: Scenario, minutes: float) -> None:
    try:
        from qmix_logistics.policies.rolling_horizon import RollingHorizonPolicy
    except ImportError:
        print("  skipped: qmix_logistics.policies.rolling_horizon is not installed")
        return
    short = scenario.model_copy(deep=True)
    short.horizon = short.horizon.model_copy(update={"end_min": short.horizon.start_min + minutes})
    policy = RollingHorizonPolicy(engine="ortools")
    t0 = time.perf_counter()
    result = run_episode(DispatchEnv(short), policy, seed=scenario.seed)
    wall = time.perf_counter() - t0
    stats = getattr(policy, "stats", None)
    plans = f", {stats.plans} plans, {stats.solve_s:.1f} s solving" if stats is not None else ""
    if not result.decision_ms:
        print(f"  no decisions in a {minutes:.0f} min day; try a longer --rh-minutes")
        return
    print(f"  ortools per vehicle decision, {minutes:.0f} min day  {percentiles(result.decision_ms)}  "
          f"mean {np.mean(result.decision_ms):.1f}{plans}, {wall:.1f} s wall")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", type=Path, default=ROOT / "scenarios" / "depot.yaml")
    parser.add_argument("--checkpoint", type=Path, help="default: train a throwaway one on the scenario")
    parser.add_argument("--rate", type=float, default=200.0, help="open-loop requests/s")
    parser.add_argument("--seconds", type=float, default=10.0, help="open-loop duration")
    parser.add_argument("--closed-seconds", type=float, default=5.0, help="closed-loop duration")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients")
    parser.add_argument("--calls", type=int, default=5000, help="in-process single-vehicle calls")
    parser.add_argument("--rh-minutes", type=float, default=120.0, help="length of the rolling-horizon day")
    parser.add_argument("--skip-planner", action="store_true")
    parser.add_argument("--quick", action="store_true", help="short runs (3 s open loop, 2 s closed loop)")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.closed_seconds, args.calls = 3.0, 2.0, 1000
    scenario = load_scenario(args.scenario)
    print(f"machine: {machine_line()}")
    with tempfile.TemporaryDirectory(prefix="bench_serve_") as tmp:
        checkpoint = args.checkpoint or throwaway_checkpoint(scenario, Path(tmp) / "run")
        policy, _ = load_policy(checkpoint)
        print(f"policy: {scenario.name}, {policy.n_agents} vehicles, observation {policy.obs_dim} floats, "
              f"{policy.n_actions} actions, GRU {policy.hidden_dim}")
        bodies = recorded_requests(checkpoint, scenario)
        for threads in sorted({1, torch.get_num_threads()}):
            print(f"in process, {threads} torch thread(s), ms:")
            bench_in_process(checkpoint, scenario, bodies, args.calls, threads)
        print("HTTP on loopback, ms:")
        bench_http(checkpoint, bodies, policy.n_agents, args)
    if not args.skip_planner:
        print("rolling-horizon baseline, ms:")
        bench_rolling_horizon(scenario, args.rh_minutes)
    print(f"machine after: {machine_line()}")


if __name__ == "__main__":
    main()
