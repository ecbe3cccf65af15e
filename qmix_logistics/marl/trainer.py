"""The training loop: collect a round of episodes, store them, learn, log, evaluate, checkpoint.

``train`` is the one entry point. Everything it does is reproducible from ``config.seed``: network init,
exploration and replay sampling draw from seeded generators, and each training episode's env seed is a
hash of (seed, episode index). Because rounds end with no env mid-episode, a checkpoint plus ``resume=True``
continues exactly where the run stopped: same step counter, epsilon, optimiser state and log files.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from qmix_logistics.common.errors import QlogError
from qmix_logistics.common.parallel import one_blas_thread

from .buffer import Episode, EpisodeBuffer, concat_batches
from .checkpoint import (
    BEST_CHECKPOINT_NAME,
    CHECKPOINT_NAME,
    capture_rng_states,
    check_plain,
    checkpoint_contents,
    config_and_spec,
    load_checkpoint,
    load_policy,
    restore_rng_states,
    save_checkpoint,
)
from .config import RESUMABLE_FIELDS, LearnerConfig
from .controller import DecentralizedPolicy, MultiAgentController
from .env_contract import EnvFactory
from .learner import QLearner
from .progress import ProgressFn, TrainProgress
from .relabel import LabelAgreement, Relabeller, demo_split
from .run_log import RunLog
from .runner import EnvRunner
from .selection import CandidatePool, keep_choice

#: The caller's evaluation: gets a frozen greedy policy, returns named figures (logged under eval/).
EvalFn = Callable[[DecentralizedPolicy], dict[str, float]]
#: Default evaluation plays greedy episodes on seeds EVAL_SEED_BASE + i.
EVAL_SEED_BASE = 10_000
#: Training episodes averaged for the "recent return" figure.
RECENT_EPISODES = 20
#: Memory budget of the buffer of relabelled stretches (DAgger), at most the replay's own, in MiB.
RELABELLED_MB = 256.0


@dataclass
class TrainResult:
    """What a finished ``train`` call reports."""

    run_dir: Path
    """The run folder (checkpoint, progress.csv, eval.csv, tb/)."""
    checkpoint_path: Path
    """The final checkpoint."""
    env_steps: int
    """Env steps collected in total (over all sessions of a resumed run)."""
    episodes: int
    """Training episodes collected in total."""
    updates: int
    """Gradient updates done in total."""
    recent_return: float
    """Mean return of the last 20 training episodes (NaN if none)."""
    last_eval: dict[str, float] = field(default_factory=dict)
    """The final evaluation's figures."""
    wall_seconds: float = 0.0
    """Wall time of this call."""
    learn_seconds: float = 0.0
    """Part of wall_seconds spent in gradient updates."""
    best_path: Path | None = None
    """The best evaluation's policy (``best.pt``), or None when no evaluation has kept one."""
    best_env_steps: int | None = None
    """The env step of that evaluation."""
    selected_from: int = 0
    """How many candidates ``best.pt`` was chosen from on the selection days (0: no selection ran)."""


def episode_seed(seed: int, episode_index: int) -> int:
    """Env seed of training episode ``episode_index``: a 31-bit hash, far from the eval seeds in practice."""
    return int(np.random.SeedSequence([seed, episode_index]).generate_state(1)[0]) & 0x7FFFFFFF


def train(
    make_env: EnvFactory,
    config: LearnerConfig,
    run_dir: str | Path,
    *,
    eval_fn: EvalFn | None = None,
    select_fn: EvalFn | None = None,
    resume: bool = False,
    on_progress: ProgressFn | None = None,
    extra_metadata: dict[str, Any] | None = None,
    demonstrations: Sequence[Episode] = (),
    relabeller: Relabeller | None = None,
) -> TrainResult:
    """Train QMIX/VDN/IQL on envs from ``make_env(seed)`` until ``config.total_env_steps``.

    ``demonstrations`` (episodes whose ``expert`` holds the teacher's labels) are kept for the whole
    run: each batch draws ``demo_batch_share`` of its windows from them, and ``pretrain_updates``
    updates train on them alone before the first episode (DQfD). A resumed run needs them again.

    With ``config.select_candidates``, ``select_fn`` plays each candidate for ``best.pt`` on the selection
    days (its ``"return"`` is the score); without it, greedy episodes on seeds after the evaluation's.

    ``resume=True`` continues the checkpoint in ``run_dir``; without it, ``run_dir`` must not hold one.
    ``on_progress`` gets a :class:`TrainProgress` after every collection round and once at the end;
    without it nothing is printed. ``extra_metadata`` (plain data, e.g. the scenario) is stored in every
    checkpoint for ``load_policy``.
    """
    run_dir = Path(run_dir)
    checkpoint_path = run_dir / CHECKPOINT_NAME
    if checkpoint_path.exists() and not resume:
        raise QlogError(
            "the run folder already holds a checkpoint; resume it or pick a new folder", source=str(run_dir)
        )
    if resume and not checkpoint_path.exists():
        raise QlogError("nothing to resume: no checkpoint in the run folder", source=str(run_dir))
    check_plain(extra_metadata or {}, "extra_metadata")
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)  # network initialisation; exploration and replay use their own Generators
    device = config.resolved_device()
    threads_before = torch.get_num_threads()
    if config.torch_threads is not None:
        torch.set_num_threads(config.torch_threads)
    try:
        with one_blas_thread(), EnvRunner(make_env, config.n_envs, seed=config.seed,
                                          workers=config.env_workers, dtype=config.replay_dtype) as runner:
            session = _TrainingSession(runner, config, run_dir, device, eval_fn, extra_metadata or {},
                                       demonstrations, relabeller, select_fn)
            if resume:
                session.restore(checkpoint_path)
            return session.run(on_progress)
    finally:
        torch.set_num_threads(threads_before)
        if relabeller is not None:
            relabeller.close()


class _TrainingSession:
    """State of one ``train`` call: the learner, buffer, counters and logs."""

    def __init__(
        self,
        runner: EnvRunner,
        config: LearnerConfig,
        run_dir: Path,
        device: str,
        eval_fn: EvalFn | None,
        metadata: dict[str, Any],
        demonstrations: Sequence[Episode] = (),
        relabeller: Relabeller | None = None,
        select_fn: EvalFn | None = None,
    ) -> None:
        self.runner, self.config, self.run_dir, self.eval_fn = runner, config, run_dir, eval_fn
        self.select_fn = select_fn
        self.metadata = metadata
        self.spec = runner.spec
        self.learner = QLearner(self.spec, config, device)
        self.controller = MultiAgentController(self.learner.agent, follow=False)
        self.buffer = EpisodeBuffer(
            self.spec.n_agents,
            self.spec.obs_dim,
            self.spec.state_dim,
            self.spec.n_actions,
            config.buffer_mb,
            device=device,
            keep_durations=config.discount_per == "time",
            max_steps=config.buffer_steps,
            dtype=config.replay_dtype,
        )
        self.demo_buffer = EpisodeBuffer.holding(
            demonstrations, device=device, keep_durations=config.discount_per == "time", dtype=config.replay_dtype
        ) if demonstrations else None
        if self.demo_buffer is not None and (self.demo_buffer.obs_dim, self.demo_buffer.n_actions) != (
                self.spec.obs_dim, self.spec.n_actions):
            raise QlogError("the demonstrations were recorded for another observation or action size",
                            field="demonstrations")
        self.relabeller = relabeller
        # the teacher's labels on the learner's own states, oldest out first
        self.relabelled = EpisodeBuffer(
            self.spec.n_agents, self.spec.obs_dim, self.spec.state_dim, self.spec.n_actions,
            min(config.buffer_mb, RELABELLED_MB), device=device, keep_durations=config.discount_per == "time",
            dtype=config.replay_dtype,
        ) if relabeller is not None else None
        for episode in demonstrations:  # reward scale; a resumed run restores the saved statistics instead
            self.learner.observe_rewards(torch.from_numpy(episode.rewards))
        self.act_rng = np.random.default_rng([config.seed, 1])
        self.replay_rng = np.random.default_rng([config.seed, 2])
        self.env_steps = self.episodes = 0
        self.update_credit = 0.0
        self.pending_updates = 0  # earned by the last round, done while the next one is played
        self.recent_returns: deque[float] = deque(maxlen=RECENT_EPISODES)
        self.resume_step: int | None = None
        self.last_eval: dict[str, float] = {}
        self.best_return = -math.inf  # of the evaluations so far, and when it was; kept in the checkpoint
        self.best_step: int | None = None
        self.candidates = CandidatePool(run_dir, config.select_candidates)  # the config requires keep_best
        self.selected_from = 0
        self.learn_seconds = 0.0

    def restore(self, path: Path) -> None:
        """Load the checkpoint in ``path`` into this session, refusing one made for other settings."""
        data = load_checkpoint(path, map_location=self.learner.device)
        saved_config, saved_spec = config_and_spec(data, path)
        for name in LearnerConfig.model_fields:
            saved, now = getattr(saved_config, name), getattr(self.config, name)
            if name not in RESUMABLE_FIELDS and saved != now:
                raise QlogError(
                    f"differs from the checkpoint ({saved!r} there, {now!r} now); keep it or start a new run",
                    source=str(path),
                    field=f"training.{name}",
                )
        if saved_spec != self.spec:
            raise QlogError(f"the env's agents or sizes differ from the checkpoint's ({saved_spec})", source=str(path))
        with checkpoint_contents(path):
            self.learner.load_state_dict(data["learner"])
            counters = data["counters"]
            self.env_steps, self.episodes = int(counters["env_steps"]), int(counters["episodes"])
            self.update_credit = float(counters["update_credit"])
            self.pending_updates = int(counters.get("pending_updates", 0))
            self.best_return = float(counters.get("best_return", -math.inf))
            self.best_step = counters.get("best_step")
            self.candidates = CandidatePool(self.run_dir, self.candidates.size,
                                            CandidatePool.candidates_from(counters.get("candidates")))
            self.recent_returns.extend(float(r) for r in data["recent_returns"])
            restore_rng_states(data["rng"], {"act": self.act_rng, "replay": self.replay_rng})
            if data.get("buffer") is not None:
                self.buffer.load_state_dict(data["buffer"])
        self.metadata = self.metadata or data["metadata"]
        self.resume_step = self.env_steps

    def run(self, on_progress: ProgressFn | None) -> TrainResult:
        """Train until the step budget is spent; checkpoint and evaluate at the end."""
        cfg = self.config
        started = time.perf_counter()
        first_step = self.env_steps
        log = RunLog(self.run_dir, resume_step=self.resume_step)
        log.log_text("config", str(cfg.to_dict()))
        log.log_text("envs", self.runner.describe())
        window = _LogWindow(self.env_steps)

        def report(note: str | None = None) -> None:
            if on_progress is None:
                return
            elapsed = time.perf_counter() - started
            on_progress(TrainProgress(
                env_steps=self.env_steps,
                total_env_steps=cfg.total_env_steps,
                episodes=self.episodes,
                sps=(self.env_steps - first_step) / max(elapsed, 1e-9),
                epsilon=cfg.epsilon_at(self.env_steps),
                recent_return=float(np.mean(self.recent_returns)) if self.recent_returns else math.nan,
                elapsed_s=elapsed,
                last_eval=dict(self.last_eval),
                note=note,
            ))

        saved_at = evaluated_at = logged_at = -1
        deadline = None if cfg.max_wall_minutes is None else started + 60.0 * cfg.max_wall_minutes
        learner_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="learner")
        try:
            if self.demo_buffer is not None and self.learner.updates < cfg.pretrain_updates:
                report(f"pre-training on {len(self.demo_buffer)} demonstration episodes")
                window.add_stats(self._pretrain())
            while self.env_steps < cfg.total_env_steps:
                if deadline is not None and time.perf_counter() >= deadline:
                    report(f"wall-clock budget of {cfg.max_wall_minutes} min reached at {self.env_steps:,} env steps")
                    break
                before = self.env_steps
                self.controller.sync()  # the round acts on the weights as they are now
                # a run resumed without its replay buffer keeps the updates it owes until there is data again
                pending = self.pending_updates if len(self.buffer) > 0 else 0
                self.pending_updates -= pending
                # torch releases the GIL in its kernels, so these updates overlap with the envs stepping here
                updating = learner_thread.submit(self._run_updates, pending) if pending else None
                try:
                    episodes = self._collect()
                finally:
                    if updating is not None:
                        window.add_stats(updating.result())
                self._store(episodes)
                window.add_episodes(episodes)
                self._earn_updates(len(episodes))
                relabelled_note = self._relabel(episodes, before_episodes=self.episodes - len(episodes))
                lengths = [ep.length for ep in episodes]
                # the buffer holds its own copy: keeping these through the next round would hold a large
                # fleet's day (gigabytes) twice while the next one is staged
                del episodes
                if not cfg.learn_during_collection:
                    window.add_stats(self._run_updates(self.pending_updates))
                    self.pending_updates = 0
                capacity = None
                if before == first_step:  # the first episodes tell what the memory budget buys
                    capacity = self.buffer.describe(int(np.mean(lengths)))
                    log.log_text("buffer", capacity)
                    capacity += f"; {self.runner.describe()}"
                if _crossed(before, self.env_steps, cfg.log_interval_steps):
                    log.log_progress(window.row(self, cfg.epsilon_at(self.env_steps)))
                    logged_at = self.env_steps
                if _crossed(before, self.env_steps, cfg.eval_interval_steps):
                    self._evaluate(log)
                    evaluated_at = self.env_steps
                if _crossed(before, self.env_steps, cfg.checkpoint_interval_steps):
                    self._save()
                    saved_at = self.env_steps
                report("; ".join(note for note in (capacity, relabelled_note) if note) or None)
            if len(self.buffer) > 0:  # the last round's updates, before the last save
                window.add_stats(self._run_updates(self.pending_updates))
                self.pending_updates = 0
            if logged_at != self.env_steps and window.lengths:
                log.log_progress(window.row(self, cfg.epsilon_at(self.env_steps)))
            if evaluated_at != self.env_steps:
                self._evaluate(log)
            if self.candidates.candidates:
                self._select(report)
                saved_at = -1  # the checkpoint records the choice
            if saved_at != self.env_steps:
                self._save()
            report()
        finally:
            learner_thread.shutdown()
            log.close()
        return TrainResult(
            run_dir=self.run_dir,
            checkpoint_path=self.run_dir / CHECKPOINT_NAME,
            best_path=self.run_dir / BEST_CHECKPOINT_NAME if self.best_step is not None else None,
            best_env_steps=self.best_step,
            selected_from=self.selected_from,
            env_steps=self.env_steps,
            episodes=self.episodes,
            updates=self.learner.updates,
            recent_return=float(np.mean(self.recent_returns)) if self.recent_returns else math.nan,
            last_eval=dict(self.last_eval),
            wall_seconds=time.perf_counter() - started,
            learn_seconds=self.learn_seconds,
        )

    def _collect(self) -> list[Episode]:
        """One round: every env plays one exploring episode (stored afterwards by :meth:`_store`)."""
        seeds = [episode_seed(self.config.seed, self.episodes + k) for k in range(self.runner.n_envs)]
        cfg = self.config
        demo = self.episodes < cfg.expert_warmup_episodes  # demonstrations: the env's suggestions throughout
        epsilon, share = (1.0, 1.0) if demo else (cfg.epsilon_at(self.env_steps), cfg.expert_share)
        episodes = self.runner.run_episodes(self.controller, seeds, epsilon=epsilon, rng=self.act_rng,
                                            expert_share=share)
        for episode in episodes:
            episode.demo = (demo or cfg.margin_on_all_steps) and episode.expert is not None
        return episodes

    def _store(self, episodes: list[Episode]) -> None:
        """Put a round's episodes into the replay buffer and the counters (no update is running then)."""
        for episode in episodes:
            self.buffer.add(episode)
            self.learner.observe_rewards(torch.from_numpy(episode.rewards))
            self.recent_returns.append(episode.episode_return)
            self.env_steps += episode.length
            self.episodes += 1

    def _relabel(self, episodes: list[Episode], *, before_episodes: int) -> str | None:
        """Have the relabeller label stretches of this round's episodes when its interval was crossed (DAgger);
        returns a line for the progress report."""
        if self.relabeller is None or self.relabelled is None:
            return None
        interval = self.relabeller.interval_episodes
        if before_episodes // interval == self.episodes // interval:
            return None
        labelled = self.relabeller(episodes)
        for stretch in labelled:
            self.relabelled.add(stretch)
        agreement = LabelAgreement.of(labelled)
        return (f"teacher labelled {agreement.labelled:,} choices on the learner's states, "
                f"{agreement.share:.0%} as the learner chose; {self.relabelled.num_steps:,} labelled steps kept")

    def _earn_updates(self, new_episodes: int) -> None:
        """Credit the gradient updates the new episodes earn (none before ``learning_starts``)."""
        cfg = self.config
        if self.env_steps < cfg.learning_starts or len(self.buffer) == 0:
            return
        self.update_credit += new_episodes * cfg.updates_per_episode
        n_updates = int(self.update_credit)
        self.update_credit -= n_updates
        self.pending_updates += n_updates

    def _run_updates(self, n_updates: int) -> list[dict[str, float]]:
        """``n_updates`` gradient updates on the replay buffer as it is now."""
        if n_updates == 0:
            return []
        started = time.perf_counter()
        window = self._window()
        stats = [self._update(window, demo_only=False) for _ in range(n_updates)]
        self.learn_seconds += time.perf_counter() - started
        return stats

    def _pretrain(self) -> list[dict[str, float]]:
        """The pre-training updates on the demonstrations alone (the ones a resumed run has not done yet)."""
        started = time.perf_counter()
        window = self._window()
        stats = [self._update(window, demo_only=True)
                 for _ in range(self.config.pretrain_updates - self.learner.updates)]
        self.learn_seconds += time.perf_counter() - started
        return stats

    def _window(self) -> tuple[int | None, int]:
        """(chunk_len, burn_in) of the windows sampled now: one shape for replay and demonstration windows."""
        demos = self.demo_buffer
        return self.config.window(max(self.buffer.longest_episode, demos.longest_episode if demos is not None else 0))

    def _update(self, window: tuple[int | None, int], *, demo_only: bool) -> dict[str, float]:
        """One gradient update on replay windows, with ``demo_batch_share`` of them from the demonstrations."""
        cfg = self.config
        demos, relabelled = self.demo_buffer, self.relabelled
        chunk_len, burn_in = window
        has_demos = demos is not None or (relabelled is not None and len(relabelled) > 0)
        n_demo = 0 if not has_demos else (cfg.batch_size if demo_only else round(cfg.batch_size * cfg.demo_batch_share))
        n_relabelled = demo_split(n_demo, demos.num_steps if demos is not None else 0,
                                  relabelled.num_steps if relabelled is not None else 0, self.replay_rng,
                                  cfg.relabelled_share)
        parts = []
        if n_demo < cfg.batch_size:
            parts.append(self.buffer.sample(cfg.batch_size - n_demo, self.replay_rng, chunk_len=chunk_len,
                                            burn_in=burn_in))
        if n_demo - n_relabelled > 0:
            parts.append(demos.sample(n_demo - n_relabelled, self.replay_rng, chunk_len=chunk_len, burn_in=burn_in))
        if n_relabelled > 0:
            parts.append(relabelled.sample(n_relabelled, self.replay_rng, chunk_len=chunk_len, burn_in=burn_in))
        batch = parts[0]
        for part in parts[1:]:
            batch = concat_batches(batch, part)
        return self.learner.train(batch, demo_weight=cfg.demo_weight_at(self.env_steps))

    def _evaluate(self, log: RunLog) -> None:
        """Greedy evaluation: the caller's eval_fn, or mean return on seeds 10_000 + i. Draws no training randomness."""
        if self.eval_fn is not None:
            policy = DecentralizedPolicy(self.learner.agent, agent_names=self.spec.agents, device="cpu")
            results = {str(k): float(v) for k, v in self.eval_fn(policy).items()}
        else:
            episodes = self._greedy_episodes(self.controller, EVAL_SEED_BASE, self.config.eval_episodes)
            returns = [ep.episode_return for ep in episodes]
            results = {
                "return": float(np.mean(returns)),
                "return_std": float(np.std(returns)),
                "episode_length": float(np.mean([ep.length for ep in episodes])),
            }
        self.last_eval = results
        log.log_eval(self.env_steps, results)
        score = results.get("return", math.nan)
        if self.config.keep_best and score > self.best_return:  # NaN never counts as better
            self.best_return, self.best_step = score, self.env_steps
            self._save(self.run_dir / BEST_CHECKPOINT_NAME, with_buffer=False)
        self.candidates.offer(self.env_steps, score, lambda path: self._save(path, with_buffer=False))

    def _select(self, report: Callable[[str], None]) -> None:
        """Play the candidates on the selection days and make the best over all its days ``best.pt``."""
        cfg = self.config
        pool = self.candidates
        played = 0

        def play(path: Path) -> float:
            nonlocal played
            played += 1
            report(f"choosing the policy to keep: candidate {played}/{len(pool.candidates)} "
                   f"on {cfg.select_episodes} more days")
            policy, _ = load_policy(path)
            return self._selection_return(policy)

        choices = pool.choose(play, cfg.eval_episodes, cfg.select_episodes)
        if not choices:
            return
        keep_choice(self.run_dir, BEST_CHECKPOINT_NAME, choices)
        self.best_step = choices[0].candidate.env_steps
        self.selected_from = len(choices)

    def _selection_return(self, policy: DecentralizedPolicy) -> float:
        """Mean return of ``policy`` on the selection days: ``select_fn``'s, or greedy episodes on the seeds
        after the evaluation's."""
        if self.select_fn is not None:
            return float(self.select_fn(policy)["return"])
        controller = MultiAgentController(policy.agent, follow=False)
        episodes = self._greedy_episodes(controller, EVAL_SEED_BASE + self.config.eval_episodes,
                                         self.config.select_episodes)
        return float(np.mean([ep.episode_return for ep in episodes]))

    def _greedy_episodes(self, controller: MultiAgentController, first_seed: int, count: int) -> list[Episode]:
        """``count`` greedy episodes on seeds ``first_seed + i``; draws no training randomness."""
        return self.runner.run_episodes(controller, [first_seed + i for i in range(count)], greedy=True)

    def _save(self, path: Path | None = None, *, with_buffer: bool = True) -> None:
        """Write a checkpoint (atomically) to ``path`` (the run's ``checkpoint.pt`` by default) with everything
        needed to resume exactly."""
        save_checkpoint(
            path or self.run_dir / CHECKPOINT_NAME,
            {
                "config": self.config.to_dict(),
                "env_spec": self.spec.to_dict(),
                "metadata": self.metadata,
                "learner": self.learner.state_dict(),
                "counters": {
                    "env_steps": self.env_steps,
                    "episodes": self.episodes,
                    "updates": self.learner.updates,
                    "update_credit": self.update_credit,
                    "pending_updates": self.pending_updates,
                    "best_return": self.best_return,
                    "best_step": self.best_step,
                    "candidates": self.candidates.to_list(),
                },
                "recent_returns": list(self.recent_returns),
                "rng": capture_rng_states({"act": self.act_rng, "replay": self.replay_rng}),
                "buffer": self.buffer.state_dict() if with_buffer and self.config.save_buffer else None,
            },
        )


def _crossed(before: int, after: int, interval: int) -> bool:
    """True when a multiple of ``interval`` lies in (before, after]."""
    return after // interval > before // interval


class _LogWindow:
    """Accumulates episodes and update statistics between two progress rows."""

    def __init__(self, env_steps: int) -> None:
        self._reset(env_steps)

    def _reset(self, env_steps: int) -> None:
        self.since_step, self.since_time = env_steps, time.perf_counter()
        self.lengths: list[int] = []
        self.stats: list[dict[str, float]] = []

    def add_episodes(self, episodes: list[Episode]) -> None:
        self.lengths += [ep.length for ep in episodes]

    def add_stats(self, stats: list[dict[str, float]]) -> None:
        self.stats += stats

    def row(self, session: _TrainingSession, epsilon: float) -> dict[str, Any]:
        elapsed = max(time.perf_counter() - self.since_time, 1e-9)

        def mean_stat(key: str) -> float:
            return float(np.mean([s[key] for s in self.stats])) if self.stats else math.nan

        row = {
            "env_steps": session.env_steps,
            "episodes": session.episodes,
            "updates": session.learner.updates,
            "epsilon": epsilon,
            "return_mean": float(np.mean(session.recent_returns)) if session.recent_returns else math.nan,
            "episode_length": float(np.mean(self.lengths)) if self.lengths else math.nan,
            "td_loss": mean_stat("td_loss"),
            "margin_loss": mean_stat("margin_loss"),
            "total_loss": mean_stat("total_loss"),
            "grad_norm": mean_stat("grad_norm"),
            "q_taken_mean": mean_stat("q_taken_mean"),
            "sps": (session.env_steps - self.since_step) / elapsed,
            "time_unix": int(time.time()),
        }
        self._reset(session.env_steps)
        return row
