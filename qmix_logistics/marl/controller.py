"""Action selection: batched epsilon-greedy for training, and a stateless per-agent policy for execution.

Masked actions are never chosen: greedy picks take the argmax over valid actions only, and random picks are
drawn uniformly among valid actions only. Execution is decentralised: one agent's own observation, mask, id,
last action and GRU state go in, an action comes out; no global state and no mixer are involved.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch

from qmix_logistics.common.errors import QlogError
from qmix_logistics.common.masks import uniform_valid_actions

from .networks import AgentStepper, RNNAgent


def greedy_actions(q_values: np.ndarray, avail: np.ndarray) -> np.ndarray:
    """Argmax over valid actions along the last axis (ties go to the lowest index)."""
    return np.where(avail, q_values, -np.inf).argmax(axis=-1)


def epsilon_greedy(
    q_values: np.ndarray,
    avail: np.ndarray,
    epsilon: float,
    rng: np.random.Generator,
    expert: np.ndarray | None = None,
    expert_share: float = 0.0,
) -> np.ndarray:
    """With probability epsilon an exploratory valid action, else the greedy valid action.

    An exploratory action is the env's suggestion (``expert``, -1 = none) with probability
    ``expert_share``, else uniform among valid actions (:func:`uniform_valid_actions`). Q-learning is
    off-policy, so guided exploration changes which transitions are seen, not what is learned from them.
    """
    explore = rng.random(q_values.shape[:-1]) < epsilon
    exploratory = uniform_valid_actions(np.broadcast_to(avail, q_values.shape), rng)
    if expert is not None and expert_share > 0.0:
        follow = (rng.random(q_values.shape[:-1]) < expert_share) & (expert >= 0)
        exploratory = np.where(follow, expert, exploratory)
    return np.where(explore, exploratory, greedy_actions(q_values, avail))


class MultiAgentController:
    """Acts for K envs x N agents in one batched step of the shared agent network.

    The step runs in numpy on a copy of the weights (:class:`AgentStepper`, refreshed whenever training
    changed them), which is several times faster than a torch call at these sizes and keeps acting on the
    CPU cores next to the envs when the learner trains on a GPU.
    """

    def __init__(self, agent: RNNAgent, *, follow: bool = True) -> None:
        """``follow`` False: act on the weights of the last :meth:`sync` only (training updates the network
        on another thread while episodes are played)."""
        self.agent = agent
        self.n_agents = agent.n_agents
        self._step = AgentStepper(agent, follow=follow)

    def sync(self) -> None:
        """Act on the network's current weights from now on."""
        self._step.refresh()

    def init_hidden(self, n_envs: int) -> np.ndarray:
        """Zero GRU state for ``n_envs`` envs, shape [K, N, hidden] float32."""
        return np.zeros((n_envs, self.n_agents, self.agent.hidden_dim), dtype=np.float32)

    def q_values(
        self, obs: np.ndarray, last_actions: np.ndarray, hidden: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """obs [K, N, obs_dim], last_actions [K, N] (-1 = none), hidden [K, N, H] -> (q [K, N, A], hidden)."""
        k, n = obs.shape[:2]
        q, new_hidden = self._step(
            obs.reshape(k * n, -1), np.asarray(last_actions).reshape(k * n), np.tile(np.arange(n), k),
            np.asarray(hidden, dtype=np.float32).reshape(k * n, -1),
        )
        return q.reshape(k, n, -1), new_hidden.reshape(k, n, -1)

    def select_actions(
        self,
        obs: np.ndarray,
        avail: np.ndarray,
        last_actions: np.ndarray,
        hidden: np.ndarray,
        *,
        epsilon: float,
        rng: np.random.Generator,
        greedy: bool = False,
        expert: np.ndarray | None = None,
        expert_share: float = 0.0,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Actions [K, N] and the new hidden state; ``greedy`` (evaluation) uses no randomness at all."""
        q, new_hidden = self.q_values(obs, last_actions, hidden)
        if greedy:
            actions = greedy_actions(q, avail)
        else:
            actions = epsilon_greedy(q, avail, epsilon, rng, expert, expert_share)
        return actions.astype(np.int64), new_hidden


class DecentralizedPolicy:
    """Greedy execution policy for one agent at a time, holding no per-agent state.

    The caller keeps each agent's GRU state and last action and passes them in; the policy returns the new
    state. That lets a stateless server (or the caller's own evaluation loop) act for any agent at any time.
    """

    def __init__(self, agent: RNNAgent, *, agent_names: Sequence[str] | None = None, device: str = "cpu") -> None:
        """Take a frozen snapshot of ``agent`` on ``device``; later training does not change this policy."""
        self.agent = copy.deepcopy(agent).to(device).eval()
        for param in self.agent.parameters():
            param.requires_grad_(False)
        self._step = AgentStepper(self.agent, follow=False)  # decisions run in numpy on these frozen weights
        self.device = torch.device(device)
        self.n_agents, self.n_actions = agent.n_agents, agent.n_actions
        self.obs_dim, self.hidden_dim = agent.obs_dim, agent.hidden_dim
        default_names = [f"agent_{i}" for i in range(self.n_agents)]
        self.agent_names = list(agent_names) if agent_names is not None else default_names

    def initial_hidden(self) -> np.ndarray:
        """GRU state at an episode start, shape [hidden_dim] float32."""
        return np.zeros(self.hidden_dim, dtype=np.float32)

    def act(
        self,
        observation: np.ndarray | Sequence[float],
        action_mask: np.ndarray | Sequence[int],
        agent_index: int,
        last_action: int | None = None,
        hidden: np.ndarray | None = None,
    ) -> tuple[int, np.ndarray, np.ndarray]:
        """One agent's greedy valid action -> (action, q_values [n_actions], new_hidden [hidden_dim]).

        ``last_action`` None (or -1) and ``hidden`` None mean the first step of an episode.
        """
        hidden_in = self.initial_hidden() if hidden is None else np.asarray(hidden, dtype=np.float32)
        actions, q, new_hidden = self.act_batch(
            np.asarray(observation, dtype=np.float32)[None],
            np.asarray(action_mask)[None],
            np.array([agent_index]),
            np.array([-1 if last_action is None else last_action]),
            hidden_in[None],
        )
        return int(actions[0]), q[0], new_hidden[0]

    __call__ = act

    def act_batch(
        self,
        observations: np.ndarray,
        action_masks: np.ndarray,
        agent_indices: np.ndarray,
        last_actions: np.ndarray,
        hidden: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """B independent agent decisions in one forward pass.

        observations [B, obs_dim], action_masks [B, n_actions] (nonzero = valid), agent_indices [B],
        last_actions [B] (-1 = none), hidden [B, hidden_dim] -> (actions [B], q [B, n_actions], hidden [B, H]).
        """
        obs, masks, ids, last, h = self._check_inputs(observations, action_masks, agent_indices, last_actions, hidden)
        q, new_h = self._step(obs, last, ids, h)
        return greedy_actions(q, masks), q, new_h

    def _check_inputs(self, *arrays: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Validate (observations, action_masks, agent_indices, last_actions, hidden); bad input is the caller's."""
        observations, action_masks, agent_indices, last_actions, hidden = arrays
        obs = np.ascontiguousarray(observations, dtype=np.float32)
        masks = np.asarray(action_masks) != 0
        ids = np.asarray(agent_indices, dtype=np.int64).reshape(-1)
        last = np.asarray(last_actions, dtype=np.int64).reshape(-1)
        h = np.ascontiguousarray(hidden, dtype=np.float32)
        batch = obs.shape[0]
        expected = {
            "observation": (obs.shape, (batch, self.obs_dim)),
            "action_mask": (masks.shape, (batch, self.n_actions)),
            "hidden": (h.shape, (batch, self.hidden_dim)),
        }
        for name, (got, want) in expected.items():
            if tuple(got) != want:
                raise QlogError(f"expected length {want[1]}, got shape {tuple(got)[1:]}", field=name)
        if ids.shape[0] != batch or last.shape[0] != batch:
            raise QlogError("one agent_index and one last_action per observation are needed", field="agent_index")
        if ((ids < 0) | (ids >= self.n_agents)).any():
            raise QlogError(f"agent_index must be in [0, {self.n_agents})", field="agent_index")
        if ((last < -1) | (last >= self.n_actions)).any():
            raise QlogError(f"last_action must be None/-1 or in [0, {self.n_actions})", field="last_action")
        if not masks.any(axis=1).all():
            raise QlogError("the action mask allows no action", field="action_mask")
        if not np.isfinite(obs).all() or not np.isfinite(h).all():
            raise QlogError("observation and hidden must be finite numbers", field="observation")
        return obs, masks, ids, last, h
