"""EnvRunner: steps K environments in lockstep and returns whole episodes.

Each of the K envs lives in its own worker process (spawned, talking over a pipe) so slow Python simulators
run in parallel, while the main process picks actions for all K envs x N agents in ONE batched forward pass.
With K = 1 the env runs in this process, which keeps tests fast and tracebacks readable.

Episodes are collected in rounds: every env plays one whole episode per round, and envs that finish early
wait for the rest. That costs some idle time when lengths differ, but a round boundary is a point where no
env is mid-episode, so checkpoints taken there resume exactly.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from qmix_logistics.common.errors import QlogError

from .buffer import Episode
from .controller import MultiAgentController
from .env_contract import EnvAdapter, EnvFactory, EnvSpec, StepArrays
from .env_worker import worker_main


@dataclass
class _EpisodeRecord:
    """Growing lists for one env's episode in the current round."""

    seed: int
    obs: list[np.ndarray] = field(default_factory=list)
    state: list[np.ndarray] = field(default_factory=list)
    avail: list[np.ndarray] = field(default_factory=list)
    actions: list[np.ndarray] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    expert: list[np.ndarray] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)

    def observe(self, arrays: StepArrays) -> None:
        self.obs.append(arrays.obs)
        self.state.append(arrays.state)
        self.avail.append(arrays.avail)

    def finish(self, terminated: bool) -> Episode:
        return Episode(
            obs=np.stack(self.obs),
            state=np.stack(self.state),
            avail=np.stack(self.avail),
            actions=np.stack(self.actions).astype(np.int64),
            rewards=np.asarray(self.rewards, dtype=np.float32),
            terminated=terminated,
            seed=self.seed,
            expert=np.stack(self.expert).astype(np.int64) if self.expert else None,
            durations=np.asarray(self.durations, dtype=np.float32),
        )


class EnvRunner:
    """K envs (worker processes when K > 1) played in lockstep with one batched action selection."""

    def __init__(self, make_env: EnvFactory, n_envs: int = 1, *, seed: int = 0, start_method: str = "spawn") -> None:
        """Create env k with ``make_env(seed + k)``; ``make_env`` must be picklable when n_envs > 1."""
        self.n_envs = n_envs
        self._local: EnvAdapter | None = None
        self._conns: list[Connection] = []
        self._procs: list[Any] = []
        self._closed = False
        if n_envs == 1:
            self._local = EnvAdapter(make_env(seed), probe_seed=seed)
            self.spec: EnvSpec = self._local.spec
            return
        try:
            pickle.dumps(make_env)
        except Exception as exc:
            raise TypeError(
                "with n_envs > 1, make_env must be picklable (a module-level function or a functools.partial "
                f"of one), got {make_env!r}: {exc}"
            ) from None
        context = mp.get_context(start_method)
        try:
            for k in range(n_envs):
                parent_conn, child_conn = context.Pipe()
                proc = context.Process(
                    target=worker_main, args=(child_conn, make_env, seed + k), daemon=True, name=f"env-worker-{k}"
                )
                proc.start()
                child_conn.close()
                self._conns.append(parent_conn)
                self._procs.append(proc)
            specs = [self._receive(k) for k in range(n_envs)]
        except BaseException:
            self.close()
            raise
        if any(spec != specs[0] for spec in specs):
            self.close()
            raise QlogError("envs made with different seeds disagree on agents or sizes", source="make_env")
        self.spec = specs[0]

    def __enter__(self) -> EnvRunner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _receive(self, k: int) -> Any:
        try:
            status, payload = self._conns[k].recv()
        except (EOFError, ConnectionResetError):
            self._procs[k].join(timeout=1)
            code = self._procs[k].exitcode
            raise RuntimeError(f"env worker {k} exited unexpectedly (exit code {code})") from None
        if status == "ok":
            return payload
        if payload["qlog"]:
            raise QlogError(payload["message"], source=payload["source"], field=payload["field"])
        raise RuntimeError(f"env worker {k} failed:\n{payload['traceback']}")

    def _broadcast(self, command: str, arguments: dict[int, Any]) -> dict[int, StepArrays]:
        """Send one command to several envs, then gather the answers (so workers run in parallel)."""
        if self._local is not None:
            handler = self._local.reset if command == "reset" else self._local.step
            return {k: handler(arg) for k, arg in arguments.items()}
        for k, arg in arguments.items():
            self._conns[k].send((command, arg))
        return {k: self._receive(k) for k in arguments}

    def run_episodes(
        self,
        controller: MultiAgentController,
        seeds: Sequence[int],
        *,
        epsilon: float = 0.0,
        rng: np.random.Generator | None = None,
        greedy: bool = False,
        expert_share: float = 0.0,
    ) -> list[Episode]:
        """Play one episode per seed (K at a time) and return them in seed order.

        ``greedy`` plays without exploration and draws no random numbers; otherwise ``rng`` drives
        epsilon-greedy, whose exploratory actions follow the env's suggestions with ``expert_share``.
        """
        if self._closed:
            raise RuntimeError("the runner is closed")
        if not greedy and rng is None:
            raise ValueError("exploring needs an rng")
        episodes: list[Episode] = []
        for first in range(0, len(seeds), self.n_envs):
            episodes += self._run_round(
                controller, list(seeds[first : first + self.n_envs]), epsilon, rng, greedy, expert_share
            )
        return episodes

    def _run_round(
        self,
        controller: MultiAgentController,
        seeds: list[int],
        epsilon: float,
        rng: np.random.Generator | None,
        greedy: bool,
        expert_share: float = 0.0,
    ) -> list[Episode]:
        current = self._broadcast("reset", dict(enumerate(seeds)))
        records = [_EpisodeRecord(seed=seed) for seed in seeds]
        finished: dict[int, Episode] = {}
        hidden = controller.init_hidden(len(seeds))
        last_actions = np.full((len(seeds), self.spec.n_agents), -1, dtype=np.int64)
        active = list(range(len(seeds)))
        while active:
            for k in active:
                records[k].observe(current[k])
            actions, new_hidden = controller.select_actions(
                np.stack([current[k].obs for k in active]),
                np.stack([current[k].avail for k in active]),
                last_actions[active],
                hidden[active],
                epsilon=epsilon,
                rng=rng,  # type: ignore[arg-type]  # unused when greedy
                greedy=greedy,
                expert=_stack_expert([current[k] for k in active], self.spec.n_agents),
                expert_share=expert_share,
            )
            hidden[active] = new_hidden
            last_actions[active] = actions
            for j, k in enumerate(active):
                if current[k].expert is not None:
                    records[k].expert.append(current[k].expert)
            current = self._broadcast("step", {k: actions[j] for j, k in enumerate(active)})
            for j, k in enumerate(active):
                records[k].actions.append(actions[j])
                records[k].rewards.append(current[k].reward)
                records[k].durations.append(current[k].duration)
                if current[k].done:
                    records[k].observe(current[k])
                    finished[k] = records[k].finish(current[k].terminated)
            active = [k for k in active if k not in finished]
        return [finished[k] for k in range(len(seeds))]

    def close(self) -> None:
        """Stop all workers (politely, then by force) and close the envs; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._local is not None:
            self._local.close()
            return
        for conn in self._conns:
            with contextlib.suppress(BrokenPipeError, OSError):
                conn.send(("close", None))
        for proc in self._procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=1)
        for conn in self._conns:
            conn.close()


def _stack_expert(arrays: list[StepArrays], n_agents: int) -> np.ndarray | None:
    """[K, N] suggested actions, or None when no env offers any."""
    if all(a.expert is None for a in arrays):
        return None
    return np.stack([a.expert if a.expert is not None else np.full(n_agents, -1) for a in arrays])
