"""EnvRunner: steps K environments in lockstep and returns whole episodes.

The main process picks actions for all K envs x N agents in ONE batched step of the agent network. The K
envs run either in this process, one after the other (cheap envs, where a pipe round trip would cost more
than the step), or spread over W spawned worker processes that each hold K / W of them and step them
together, so slow Python simulators run in parallel. Unless told, the runner measures one env's step time
and the cores it may use, and picks W from them (:func:`choose_workers`). The layout never changes the
results: env k is made with ``make_env(seed + k)`` and gets the same actions wherever it runs.

Episodes are collected in rounds: every env plays one whole episode per round, and envs that finish early
wait for the rest. That costs some idle time when lengths differ, but a round boundary is a point where no
env is mid-episode, so checkpoints taken there resume exactly.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing as mp
import pickle
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from qmix_logistics.common.errors import QlogError
from qmix_logistics.common.masks import uniform_valid_actions
from qmix_logistics.common.parallel import default_workers

from .buffer import Episode
from .controller import MultiAgentController
from .env_contract import EnvAdapter, EnvFactory, EnvSpec, StepArrays
from .env_worker import worker_main


class _GrowingRows:
    """Rows of one shape and dtype appended one at a time, kept in fixed-size blocks.

    A day of a large fleet is gigabytes of observations: blocks avoid a list of one small array per step, and
    :meth:`take` copies them into one array while freeing each block as it goes, so assembling an episode
    needs the episode's memory once, not twice.

    Blocks are larger than glibc's largest mmap threshold (32 MiB), so each is mapped on its own and goes
    back to the system when freed. Smaller blocks come from the heap once a freed block has raised the
    threshold, and between them lie the small per-step arrays, so the heap cannot give them back: a whole
    staged day stayed resident beside its copy (200 vans: 22.7 GB peak with 16 MiB blocks)."""

    BLOCK_BYTES = 64 << 20

    def __init__(self, dtype: np.dtype | None = None) -> None:
        """``dtype``: what the rows are kept as (cast on the copy into the block); None keeps the rows' own."""
        self.dtype = dtype
        self.blocks: list[np.ndarray] = []
        self.rows = 0
        self.block_rows = 0

    def append(self, row: np.ndarray) -> None:
        if not self.blocks:
            self.dtype = row.dtype if self.dtype is None else np.dtype(self.dtype)
            self.block_rows = max(1, self.BLOCK_BYTES // max(1, row.size * self.dtype.itemsize))
        at = self.rows % self.block_rows
        if at == 0:
            self.blocks.append(np.empty((self.block_rows, *row.shape), dtype=self.dtype))
        self.blocks[-1][at] = row
        self.rows += 1

    def take(self) -> np.ndarray:
        """All rows as one array; the blocks are released."""
        first = self.blocks[0]
        out = np.empty((self.rows, *first.shape[1:]), dtype=first.dtype)
        start = 0
        while self.blocks:
            block = self.blocks.pop(0)  # the previous block is freed here, before the next is copied
            stop = min(self.rows, start + self.block_rows)
            out[start:stop] = block[: stop - start]
            start = stop
        self.rows = 0
        return out


@dataclass
class _EpisodeRecord:
    """One env's episode in the current round, growing step by step."""

    seed: int
    dtype: np.dtype = np.dtype(np.float32)
    """Precision the observations and states are kept in."""
    obs: _GrowingRows = field(init=False)
    state: _GrowingRows = field(init=False)
    avail: _GrowingRows = field(default_factory=_GrowingRows)
    actions: list[np.ndarray] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    expert: list[np.ndarray] = field(default_factory=list)
    expert_alt: list[np.ndarray] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.obs, self.state = _GrowingRows(self.dtype), _GrowingRows(self.dtype)

    def observe(self, arrays: StepArrays) -> None:
        self.obs.append(arrays.obs)
        self.state.append(arrays.state)
        self.avail.append(arrays.avail)

    def finish(self, terminated: bool) -> Episode:
        return Episode(
            obs=self.obs.take(),
            state=self.state.take(),
            avail=self.avail.take(),
            actions=np.stack(self.actions).astype(np.int64),
            rewards=np.asarray(self.rewards, dtype=np.float32),
            terminated=terminated,
            seed=self.seed,
            expert=np.stack(self.expert).astype(np.int64) if self.expert else None,
            expert_alt=np.stack(self.expert_alt).astype(np.int64) if self.expert_alt else None,
            durations=np.asarray(self.durations, dtype=np.float32),
        )


#: Cost of one lockstep exchange with a worker process (send, pickle both ways, wake-up), in seconds; measured
#: on a 2-core VM with dispatch-sized observations. Used only to choose the layout.
EXCHANGE_SECONDS = 3e-4
#: Spreading envs over processes must save at least this share of the in-process step time to be chosen.
MIN_SAVING = 0.3


def choose_workers(n_envs: int, step_seconds: float, cores: int) -> int:
    """Worker processes for ``n_envs`` envs that take ``step_seconds`` a step: 0 (step them all here) unless
    stepping them on ``min(n_envs, cores)`` processes saves at least ``MIN_SAVING`` of the time."""
    if n_envs <= 1 or cores <= 1:
        return 0
    workers = min(n_envs, cores)
    here = n_envs * step_seconds
    spread = math.ceil(n_envs / workers) * step_seconds + EXCHANGE_SECONDS
    return workers if spread <= (1.0 - MIN_SAVING) * here else 0


def measure_step_seconds(adapter: EnvAdapter, seed: int, *, steps: int = 32, budget_s: float = 1.0) -> float:
    """Mean seconds per step of ``adapter`` with uniform valid random actions (resetting as episodes end).

    The env is reset with ``seed`` first; episodes are reproducible from their seed alone, so this leaves no
    trace in later episodes."""
    rng = np.random.default_rng(seed)
    arrays = adapter.reset(seed)
    done, started = 0, time.perf_counter()
    while done < steps and (done == 0 or time.perf_counter() - started < budget_s):
        arrays = adapter.step(uniform_valid_actions(arrays.avail, rng))
        done += 1
        if arrays.done:
            arrays = adapter.reset(seed + done)
    return (time.perf_counter() - started) / done


class EnvRunner:
    """K envs, in this process or in worker processes, played in lockstep with one batched action selection."""

    def __init__(
        self,
        make_env: EnvFactory,
        n_envs: int = 1,
        *,
        seed: int = 0,
        workers: int | None = None,
        start_method: str = "spawn",
        dtype: str = "float32",
    ) -> None:
        """Create env k with ``make_env(seed + k)``.

        ``dtype``: the precision played episodes keep their observations and states in (``float16`` halves a
        large fleet's episodes, see ``LearnerConfig.replay_dtype``).

        ``workers``: processes that step the envs (0 = all in this process; at most ``n_envs``); None measures
        one env's step time and picks with :func:`choose_workers`. ``make_env`` must be picklable when workers
        are used.
        """
        if workers is not None and not 0 <= workers <= n_envs:
            raise ValueError(f"workers must be between 0 and n_envs={n_envs}, got {workers}")
        self.n_envs = n_envs
        self.dtype = np.dtype(dtype)
        self._local: list[EnvAdapter] = []
        self._conns: list[Connection] = []
        self._procs: list[Any] = []
        self._members: list[list[int]] = []  # env indices held by each worker
        self._where: list[tuple[int, int]] = []  # env index -> (worker, position in that worker)
        self._closed = False
        self.step_seconds: float | None = None
        """One env's measured step time, when the layout was chosen automatically."""
        if workers is None and n_envs == 1:
            workers = 0
        if workers is None:
            probe = EnvAdapter(make_env(seed), probe_seed=seed)
            self.step_seconds = measure_step_seconds(probe, seed)
            workers = choose_workers(n_envs, self.step_seconds, default_workers())  # the cores we may use
            if workers == 0:
                self._local.append(probe)
            else:
                probe.close()
        self.workers = workers
        """Worker processes in use (0: the envs step in this process)."""
        if workers == 0:
            try:
                for k in range(len(self._local), n_envs):
                    self._local.append(EnvAdapter(make_env(seed + k), probe_seed=seed + k))
            except BaseException:
                self.close()
                raise
            self._check_same([adapter.spec for adapter in self._local])
            self.spec: EnvSpec = self._local[0].spec
            return
        try:
            pickle.dumps(make_env)
        except Exception as exc:
            raise TypeError(
                "with worker processes, make_env must be picklable (a module-level function or a functools.partial "
                f"of one), got {make_env!r}: {exc}"
            ) from None
        context = mp.get_context(start_method)
        self._members = [list(map(int, part)) for part in np.array_split(np.arange(n_envs), workers)]
        self._where = [(w, j) for w, members in enumerate(self._members) for j in range(len(members))]
        try:
            for w, members in enumerate(self._members):
                parent_conn, child_conn = context.Pipe()
                proc = context.Process(
                    target=worker_main, args=(child_conn, make_env, [seed + k for k in members]), daemon=True,
                    name=f"env-worker-{w}",
                )
                proc.start()
                child_conn.close()
                self._conns.append(parent_conn)
                self._procs.append(proc)
            specs = [spec for w in range(workers) for spec in self._receive(w)]
        except BaseException:
            self.close()
            raise
        self._check_same(specs)
        self.spec = specs[0]

    def describe(self) -> str:
        """The layout in words, for logs: how many envs, where they step, and the measured step time."""
        where = "in this process" if self.workers == 0 else f"in {self.workers} worker processes"
        measured = "" if self.step_seconds is None else f" (one env step: {1000 * self.step_seconds:.2f} ms)"
        return f"{self.n_envs} env{'s' if self.n_envs != 1 else ''} {where}{measured}"

    def _check_same(self, specs: list[EnvSpec]) -> None:
        if any(spec != specs[0] for spec in specs):
            self.close()
            raise QlogError("envs made with different seeds disagree on agents or sizes", source="make_env")

    def __enter__(self) -> EnvRunner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _receive(self, w: int) -> Any:
        try:
            status, payload = self._conns[w].recv()
        except (EOFError, ConnectionResetError):
            self._procs[w].join(timeout=1)
            code = self._procs[w].exitcode
            raise RuntimeError(f"env worker {w} exited unexpectedly (exit code {code})") from None
        if status == "ok":
            return payload
        if payload["qlog"]:
            raise QlogError(payload["message"], source=payload["source"], field=payload["field"])
        raise RuntimeError(f"env worker {w} failed:\n{payload['traceback']}")

    def _broadcast(self, command: str, arguments: dict[int, Any]) -> dict[int, StepArrays]:
        """Send one command to several envs, then gather the answers (so workers run in parallel)."""
        if self._local:
            return {k: getattr(self._local[k], command)(arg) for k, arg in arguments.items()}
        parts: dict[int, dict[int, Any]] = {}
        for k, arg in arguments.items():
            w, j = self._where[k]
            parts.setdefault(w, {})[j] = arg
        for w, part in parts.items():
            self._conns[w].send((command, part))
        answers: dict[int, StepArrays] = {}
        for w in parts:
            for j, arrays in self._receive(w).items():
                answers[self._members[w][j]] = arrays
        return answers

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
        records = [_EpisodeRecord(seed=seed, dtype=self.dtype) for seed in seeds]
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
                    if current[k].expert_alt is not None:
                        records[k].expert_alt.append(current[k].expert_alt)
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
        for adapter in self._local:
            adapter.close()
        if not self._procs:
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
