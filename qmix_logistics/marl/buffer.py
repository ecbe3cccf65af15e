"""Episode replay buffer with a fixed memory budget.

Episodes are stored back to back in preallocated step arrays (no padding to a maximum length), because
logistics episodes vary from a few hundred to a few thousand steps and padding would waste most of the
budget. An episode of T transitions takes T + 1 slots: the extra slot holds the final observation, so a
truncated episode can still bootstrap. When the write position reaches the end, it wraps to slot 0 and
the oldest episodes in the way are evicted (FIFO).

Sampling returns fixed-shape windows, padded where they run past an episode's ends, with a padding mask:
either whole episodes, or (for long episodes) ``burn_in + chunk_len`` steps in which only the last
``chunk_len`` are trained (R2D2-style; the burn-in only warms the GRU state).

Step durations (for discounting per elapsed time) are kept only when asked for, so a buffer of the usual
per-step discounting holds as many steps of a given budget as it always has.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from qmix_logistics.common.errors import QlogError

MIB = 2**20


@dataclass
class Episode:
    """One finished episode as collected by the runner (time-major numpy arrays, team reward)."""

    obs: np.ndarray
    """[T + 1, n_agents, obs_dim] float32 (or the replay's half precision), including the observation after the
    last step."""
    state: np.ndarray
    """[T + 1, state_dim] float32 (or the replay's half precision) global state."""
    avail: np.ndarray
    """[T + 1, n_agents, n_actions] bool action masks."""
    actions: np.ndarray
    """[T, n_agents] int64 actions taken."""
    rewards: np.ndarray
    """[T] float32 team reward (mean over agents)."""
    terminated: bool
    """True when the env terminated (no bootstrap from the last state); False when it was truncated."""
    seed: int
    """The seed the env was reset with."""
    expert: np.ndarray | None = None
    """[T, n_agents] int suggested action at each step (-1 = none); kept for demonstration episodes."""
    expert_alt: np.ndarray | None = None
    """[T, n_agents] int second action the teacher accepts at each step (-1 = none), beside ``expert``."""
    demo: bool = False
    """Its suggested actions train the large-margin loss (a demonstration, or every episode when
    ``margin_on_all_steps``)."""
    durations: np.ndarray | None = None
    """[T] float32 elapsed time of each step in the env's unit (``infos[agent]["duration"]``); None = unknown."""

    @property
    def length(self) -> int:
        """Number of transitions (env steps) T."""
        return int(self.actions.shape[0])

    @property
    def episode_return(self) -> float:
        """Undiscounted sum of team rewards."""
        return float(self.rewards.sum())


@dataclass
class EpisodeBatch:
    """A training batch of B windows, as tensors on the learner's device.

    The step-aligned fields cover W + 1 time slots (W = burn_in + C; the extra slot is the bootstrap
    observation). The transition fields cover only the C trained steps, which start at slot ``burn_in``.
    """

    obs: torch.Tensor
    """[B, W + 1, N, obs_dim] observations (zeros outside the episode)."""
    state: torch.Tensor
    """[B, W + 1, state_dim] global states."""
    avail: torch.Tensor
    """[B, W + 1, N, n_actions] bool masks (all True outside the episode, so max() stays finite)."""
    last_actions: torch.Tensor
    """[B, W + 1, N] long action taken before each slot, -1 at the episode start and outside it."""
    first: torch.Tensor
    """[B, W + 1] bool, True at the episode's first step (the GRU state must be reset there)."""
    actions: torch.Tensor
    """[B, C, N] long actions of the trained steps."""
    rewards: torch.Tensor
    """[B, C] float team rewards."""
    terminated: torch.Tensor
    """[B, C] float, 1 where the episode terminated after this step."""
    mask: torch.Tensor
    """[B, C] float, 1 for real trained transitions, 0 for padding."""
    expert: torch.Tensor
    """[B, C, N] long suggested action that trains the margin loss, -1 where none."""
    expert_alt: torch.Tensor
    """[B, C, N] long second action the margin loss accepts as well, -1 where none."""
    durations: torch.Tensor
    """[B, C] float elapsed time of each trained step (1 when the buffer keeps no durations, 0 for padding)."""
    burn_in: int
    """Slots before the trained part that only warm the hidden state."""


def concat_batches(first: EpisodeBatch, second: EpisodeBatch) -> EpisodeBatch:
    """One batch of the windows of both (same window shape), e.g. replay and demonstration windows."""
    if first.burn_in != second.burn_in:
        raise ValueError("batches with different burn-in cannot be joined")
    tensors = {name: torch.cat([getattr(first, name), getattr(second, name)], dim=0)
               for name in first.__dataclass_fields__ if name != "burn_in"}
    return EpisodeBatch(**tensors, burn_in=first.burn_in)


class EpisodeBuffer:
    """FIFO store of whole episodes with uniform sampling of episodes or of windows inside them."""

    def __init__(
        self,
        n_agents: int,
        obs_dim: int,
        state_dim: int,
        n_actions: int,
        memory_mb: float,
        *,
        device: torch.device | str = "cpu",
        keep_durations: bool = False,
        max_steps: int | None = None,
        dtype: str = "float32",
    ) -> None:
        """Preallocate step storage for ``max_steps`` env steps, or as many as ``memory_mb`` MiB hold if fewer;
        the capacity in steps is ``capacity_steps``.

        ``keep_durations`` stores each step's duration (4 bytes a step more); every added episode must carry them.
        ``dtype`` is the precision observations and states are kept in ("float16" halves what a step takes with
        a large fleet); batches are float32 either way.
        """
        self.n_agents, self.obs_dim, self.state_dim, self.n_actions = n_agents, obs_dim, state_dim, n_actions
        self.memory_mb = memory_mb
        self.device = torch.device(device)
        self.keep_durations = keep_durations
        self.dtype = np.dtype(dtype)
        self.bytes_per_step = self.step_bytes(n_agents, obs_dim, state_dim, n_actions, keep_durations, dtype)
        self.capacity_steps = int(memory_mb * MIB) // self.bytes_per_step
        self.max_steps = max_steps
        if max_steps is not None:
            self.capacity_steps = min(self.capacity_steps, max(int(max_steps), 2))
        if self.capacity_steps < 2:
            raise QlogError(f"{memory_mb} MiB holds less than 2 env steps", field="training.buffer_mb")
        if n_actions > np.iinfo(np.int16).max:
            raise QlogError(f"{n_actions} actions is more than the buffer's int16 action slots can hold")
        c = self.capacity_steps
        self.obs = np.zeros((c, n_agents, obs_dim), dtype=self.dtype)
        self.state = np.zeros((c, state_dim), dtype=self.dtype)
        self.avail = np.zeros((c, n_agents, n_actions), dtype=bool)
        self.actions = np.zeros((c, n_agents), dtype=np.int16)
        self.rewards = np.zeros(c, dtype=np.float32)
        self.terminated = np.zeros(c, dtype=bool)
        self.expert = np.full((c, n_agents), -1, dtype=np.int16)
        self.expert_alt = np.full((c, n_agents), -1, dtype=np.int16)
        self.durations = np.zeros(c, dtype=np.float32) if keep_durations else None
        self._episodes: deque[tuple[int, int]] = deque()  # (first slot, transitions), oldest first
        self._write = 0
        self._table: tuple[np.ndarray, np.ndarray] | None = None

    @staticmethod
    def step_bytes(n_agents: int, obs_dim: int, state_dim: int, n_actions: int, keep_durations: bool = False,
                   dtype: str = "float32") -> int:
        """Bytes one stored env step takes."""
        durations = 4 if keep_durations else 0
        size = np.dtype(dtype).itemsize
        return size * (n_agents * obs_dim + state_dim) + n_agents * n_actions + 6 * n_agents + 4 + 1 + durations

    @classmethod
    def holding(
        cls, episodes: Sequence[Episode], *, device: torch.device | str = "cpu", keep_durations: bool = False,
        dtype: str = "float32",
    ) -> EpisodeBuffer:
        """A buffer sized to hold exactly these episodes (demonstrations kept for a whole run), filled with them."""
        first = episodes[0]
        n_agents, obs_dim = first.obs.shape[1:]
        state_dim, n_actions = first.state.shape[1], first.avail.shape[2]
        slots = sum(e.length + 1 for e in episodes) + 1
        step_bytes = cls.step_bytes(n_agents, obs_dim, state_dim, n_actions, keep_durations, dtype)
        buffer = cls(n_agents, obs_dim, state_dim, n_actions, slots * step_bytes / MIB, device=device,
                     keep_durations=keep_durations, dtype=dtype)
        for episode in episodes:
            buffer.add(episode)
        if len(buffer) != len(episodes):
            raise AssertionError("the demonstration buffer evicted an episode")
        return buffer

    def describe(self, episode_length: int | None = None) -> str:
        """One line for the run log: the budget and what it buys (in episodes, given a typical length)."""
        megabytes = self.capacity_steps * self.bytes_per_step / MIB
        limit = (f"the {self.max_steps:,}-step limit" if self.max_steps is not None
                 and self.capacity_steps == self.max_steps else f"the {self.memory_mb:g} MiB budget")
        precision = "" if self.dtype == np.float32 else f", observations in {self.dtype.name}"
        line = (
            f"replay buffer: {self.capacity_steps:,} env steps, {megabytes:,.0f} MiB "
            f"({self.bytes_per_step:,} bytes per step{precision}; set by {limit})"
        )
        if episode_length:
            line += f", about {self.capacity_steps // (episode_length + 1):,} episodes of {episode_length:,} steps"
        return line

    def __len__(self) -> int:
        """Number of stored episodes."""
        return len(self._episodes)

    @property
    def num_steps(self) -> int:
        """Stored transitions over all episodes."""
        return int(sum(length for _, length in self._episodes))

    @property
    def longest_episode(self) -> int:
        """Transitions in the longest stored episode (0 when empty)."""
        return max((length for _, length in self._episodes), default=0)

    def add(self, episode: Episode) -> None:
        """Store one episode, evicting the oldest ones that overlap the slots it needs."""
        length = episode.length
        slots = length + 1
        if slots > self.capacity_steps:
            raise QlogError(
                f"an episode of {length} steps does not fit in the replay buffer ({self.describe()}); raise the budget"
                + (", or keep the replay in half precision (training.replay_dtype: float16)"
                   if self.dtype == np.float32 else ""),
                field="training.buffer_mb",
            )
        if self.durations is not None and (episode.durations is None or episode.durations.shape != (length,)):
            raise QlogError(
                f"an episode (seed {episode.seed}) carries no duration for each of its {length} steps, which "
                "discounting per elapsed time needs (demonstrations recorded without durations cannot be used)",
                field="training.discount_per",
            )
        if self._write + slots > self.capacity_steps:
            self._write = 0
        start, end = self._write, self._write + slots
        # Overlapping episodes always form a prefix of the FIFO: everything older than them lies further on.
        while self._episodes and self._overlaps(self._episodes[0], start, end):
            self._episodes.popleft()
        self.obs[start:end] = episode.obs
        self.state[start:end] = episode.state
        self.avail[start:end] = episode.avail
        self.actions[start : end - 1] = episode.actions
        self.actions[end - 1] = 0
        self.rewards[start : end - 1] = episode.rewards
        self.rewards[end - 1] = 0.0
        self.terminated[start:end] = False
        self.expert[start:end] = -1
        self.expert_alt[start:end] = -1
        if episode.demo and episode.expert is not None:
            self.expert[start : end - 1] = episode.expert
            if episode.expert_alt is not None:
                self.expert_alt[start : end - 1] = episode.expert_alt
        if self.durations is not None:
            self.durations[start : end - 1] = episode.durations
            self.durations[end - 1] = 0.0
        if length > 0:
            self.terminated[end - 2] = episode.terminated
        self._episodes.append((start, length))
        self._write = end
        self._table = None

    @staticmethod
    def _overlaps(stored: tuple[int, int], start: int, end: int) -> bool:
        s_start, s_len = stored
        return s_start < end and start < s_start + s_len + 1

    def _episode_table(self) -> tuple[np.ndarray, np.ndarray]:
        if self._table is None:
            table = np.array(self._episodes, dtype=np.int64).reshape(-1, 2)
            self._table = (table[:, 0], table[:, 1])
        return self._table

    def sample(
        self, batch_size: int, rng: np.random.Generator, *, chunk_len: int | None = None, burn_in: int = 0
    ) -> EpisodeBatch:
        """Draw ``batch_size`` windows uniformly (with replacement).

        chunk_len None: whole episodes, each stored episode equally likely, padded to the longest drawn.
        Otherwise: windows of ``chunk_len`` trained steps preceded by ``burn_in`` warm-up steps, placed so
        that every stored transition is equally likely to be trained (windows may hang over either end).
        """
        if not self._episodes:
            raise RuntimeError("cannot sample from an empty replay buffer")
        starts, lengths = self._episode_table()
        if chunk_len is None:
            pick = rng.integers(len(starts), size=batch_size)
            ep_len = lengths[pick]
            chunk, burn_in = max(int(ep_len.max()), 1), 0
            train_from = np.zeros(batch_size, dtype=np.int64)
            train_len = ep_len
        else:
            chunk = chunk_len
            weights = (lengths + chunk - 1).astype(np.float64)
            pick = rng.choice(len(starts), size=batch_size, p=weights / weights.sum())
            ep_len = lengths[pick]
            offset = rng.integers(-(chunk - 1), np.maximum(ep_len, 1))
            train_from = np.maximum(offset, 0)
            train_len = np.minimum(offset + chunk, ep_len) - train_from
        return self._gather(starts[pick], ep_len, train_from, train_len, chunk, burn_in)

    def _gather(
        self,
        ep_start: np.ndarray,
        ep_len: np.ndarray,
        train_from: np.ndarray,
        train_len: np.ndarray,
        chunk: int,
        burn_in: int,
    ) -> EpisodeBatch:
        window = burn_in + chunk
        # step[b, j]: the episode step shown in slot j of window b; valid when inside [0, T] (T = final obs).
        step = train_from[:, None] - burn_in + np.arange(window + 1)[None, :]
        inside = (step >= 0) & (step <= ep_len[:, None])
        slot = ep_start[:, None] + np.clip(step, 0, ep_len[:, None])
        outside = ~inside
        # fancy indexing copies; the learner takes float32 whatever the stored precision
        obs = self.obs[slot].astype(np.float32, copy=False)
        state = self.state[slot].astype(np.float32, copy=False)
        avail = self.avail[slot]
        obs[outside], state[outside], avail[outside] = 0.0, 0.0, True
        has_last = (step >= 1) & inside
        last_actions = np.where(has_last[..., None], self.actions[np.maximum(slot - 1, 0)], -1).astype(np.int64)
        first = step == 0
        trained = np.arange(chunk)[None, :] < train_len[:, None]
        t_slot = slot[:, burn_in:window]
        actions = np.where(trained[..., None], self.actions[t_slot], 0).astype(np.int64)
        rewards = np.where(trained, self.rewards[t_slot], 0.0).astype(np.float32)
        terminated = (self.terminated[t_slot] & trained).astype(np.float32)
        expert = np.where(trained[..., None], self.expert[t_slot], -1).astype(np.int64)
        expert_alt = np.where(trained[..., None], self.expert_alt[t_slot], -1).astype(np.int64)
        kept = self.durations[t_slot] if self.durations is not None else np.float32(1.0)
        durations = np.where(trained, kept, 0.0).astype(np.float32)

        def to_device(array: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(array)).to(self.device)

        return EpisodeBatch(
            obs=to_device(obs),
            state=to_device(state),
            avail=to_device(avail),
            last_actions=to_device(last_actions),
            first=to_device(first),
            actions=to_device(actions),
            rewards=to_device(rewards),
            terminated=to_device(terminated),
            mask=to_device(trained.astype(np.float32)),
            expert=to_device(expert),
            expert_alt=to_device(expert_alt),
            durations=to_device(durations),
            burn_in=burn_in,
        )

    def state_dict(self) -> dict[str, Any]:
        """Contents as plain tensors/ints, so a checkpoint can restore sampling bit for bit."""
        used = max((start + length + 1 for start, length in self._episodes), default=0)
        names = ["obs", "state", "avail", "actions", "rewards", "terminated", "expert", "expert_alt"]
        if self.durations is not None:
            names.append("durations")
        arrays = {name: torch.from_numpy(getattr(self, name)[:used].copy()) for name in names}
        return {
            "capacity_steps": self.capacity_steps,
            "write": self._write,
            "episodes": [[start, length] for start, length in self._episodes],
            "arrays": arrays,
        }

    def load_state_dict(self, data: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved; the budget and env sizes must be unchanged."""
        if int(data["capacity_steps"]) != self.capacity_steps:
            raise ValueError(f"saved buffer holds {data['capacity_steps']} steps, this one {self.capacity_steps}")
        if ("durations" in data["arrays"]) != (self.durations is not None):
            raise ValueError("saved buffer and this one disagree on keeping step durations")
        for name, tensor in data["arrays"].items():
            target = getattr(self, name)
            target[: tensor.shape[0]] = tensor.numpy()
        self._episodes = deque((int(start), int(length)) for start, length in data["episodes"])
        self._write = int(data["write"])
        self._table = None
