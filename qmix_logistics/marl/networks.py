"""The agent network: one recurrent Q-network shared by all agents.

Sharing parameters lets every agent learn from every other agent's experience; the one-hot agent id in the
input still lets behaviour differ per agent. The GRU carries what the agent saw earlier in the episode, which
matters when the observation is only a local view.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class RNNAgent(nn.Module):
    """Q(local history, .) for one agent: observation ⊕ one-hot last action ⊕ one-hot agent id -> GRU -> Q."""

    def __init__(self, obs_dim: int, n_actions: int, n_agents: int, hidden_dim: int) -> None:
        super().__init__()
        self.obs_dim = obs_dim
        self.n_actions = n_actions
        self.n_agents = n_agents
        self.hidden_dim = hidden_dim
        self.fc_in = nn.Linear(obs_dim + n_actions + n_agents, hidden_dim)
        # nn.GRU rather than GRUCell: one call unrolls a whole training window in C++ instead of a Python loop.
        self.gru = nn.GRU(hidden_dim, hidden_dim, batch_first=True)
        self.fc_out = nn.Linear(hidden_dim, n_actions)

    def init_hidden(self, batch: int, device: torch.device | str | None = None) -> torch.Tensor:
        """Zero hidden state for ``batch`` agent-rows, shape [batch, hidden_dim] (the state at an episode start)."""
        return torch.zeros(batch, self.hidden_dim, device=device if device is not None else self.fc_in.weight.device)

    def build_inputs(self, obs: torch.Tensor, last_actions: torch.Tensor, agent_ids: torch.Tensor) -> torch.Tensor:
        """Concatenate observation, one-hot last action (all zeros for -1 = no action yet) and one-hot agent id.

        obs [B, T, obs_dim] float, last_actions [B, T] long, agent_ids [B] long -> [B, T, input_dim].
        """
        has_last = (last_actions >= 0).unsqueeze(-1)
        last_onehot = F.one_hot(last_actions.clamp(min=0), self.n_actions).to(obs.dtype) * has_last
        id_onehot = F.one_hot(agent_ids, self.n_agents).to(obs.dtype)
        id_onehot = id_onehot.unsqueeze(1).expand(-1, obs.shape[1], -1)
        return torch.cat([obs, last_onehot, id_onehot], dim=-1)

    def forward(
        self,
        obs: torch.Tensor,
        last_actions: torch.Tensor,
        agent_ids: torch.Tensor,
        hidden: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Unroll over a sequence with no episode start inside it.

        obs [B, T, obs_dim], last_actions [B, T], agent_ids [B], hidden [B, hidden_dim]
        -> (q [B, T, n_actions], hidden after the last step [B, hidden_dim]).
        A single decision step is the case T = 1.
        """
        x = F.relu(self.fc_in(self.build_inputs(obs, last_actions, agent_ids)))
        out, h_last = self.gru(x, hidden.unsqueeze(0).contiguous())
        return self.fc_out(out), h_last.squeeze(0)

    def final_hidden(
        self, obs: torch.Tensor, last_actions: torch.Tensor, agent_ids: torch.Tensor, lengths: torch.Tensor
    ) -> torch.Tensor:
        """Hidden state after each row's first ``lengths[b]`` steps (>= 1), starting from zeros; one GRU call
        on a packed batch. obs [B, T, obs_dim], last_actions [B, T], agent_ids [B], lengths [B] -> [B, H]."""
        x = F.relu(self.fc_in(self.build_inputs(obs, last_actions, agent_ids)))
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, h_last = self.gru(packed, self.init_hidden(obs.shape[0]).unsqueeze(0))
        return h_last.squeeze(0)


def _copied(tensor: torch.Tensor, *, transposed: bool = False) -> np.ndarray:
    """A C-ordered float32 numpy copy of a parameter (or of its transpose). Never a view: on the CPU
    ``.numpy()`` shares the parameter's memory, which optimiser steps on the learner thread change in place."""
    array = tensor.detach().cpu().numpy()
    return np.array(array.T if transposed else array, dtype=np.float32, order="C", copy=True)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # exact identity, and no overflow warnings for large |x|


class AgentStepper:
    """One decision step of an :class:`RNNAgent` in numpy, for acting in the training loop.

    Acting is a single step for a few dozen agent rows, where torch's per-call overhead (about half a
    millisecond for the GRU on one CPU thread) costs more than the arithmetic. This keeps float32 copies of
    the weights, taken again whenever the network's parameters have changed, and computes the same
    function: one-hot inputs become row lookups, the GRU cell is written out (torch's gate order r, z, n).
    """

    def __init__(self, agent: RNNAgent, *, follow: bool = True) -> None:
        """``follow``: take the weights again at every call when they changed; otherwise only on
        :meth:`refresh` (and the first call), so that training on another thread cannot change them mid-way."""
        self.agent = agent
        self.follow = follow
        self._params = list(agent.parameters())
        self._seen: tuple[int, ...] | None = None
        self.n_agents, self.n_actions, self.hidden_dim = agent.n_agents, agent.n_actions, agent.hidden_dim

    def refresh(self) -> None:
        """Copy the weights when any parameter was written since the last copy (optimiser steps and
        load_state_dict both bump torch's per-tensor version counter)."""
        seen = tuple(p._version for p in self._params)
        if seen == self._seen:
            return
        self._seen = seen
        agent, gru = self.agent, self.agent.gru
        o, a = agent.obs_dim, self.n_actions
        w_in = _copied(agent.fc_in.weight, transposed=True)  # rows: observation, one-hot last action, one-hot id
        self._w_obs, self._w_last, self._w_id = w_in[:o], w_in[o : o + a], w_in[o + a :]
        self._w_ih, self._w_hh = _copied(gru.weight_ih_l0, transposed=True), _copied(gru.weight_hh_l0, transposed=True)
        self._w_out = _copied(agent.fc_out.weight, transposed=True)
        self._b_in, self._b_out = _copied(agent.fc_in.bias), _copied(agent.fc_out.bias)
        self._b_ih, self._b_hh = _copied(gru.bias_ih_l0), _copied(gru.bias_hh_l0)

    def __call__(
        self, obs: np.ndarray, last_actions: np.ndarray, agent_ids: np.ndarray, hidden: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """obs [B, obs_dim], last_actions [B] (-1 = none), agent_ids [B], hidden [B, H] -> (q [B, A], hidden)."""
        if self.follow or self._seen is None:
            self.refresh()
        x = obs.astype(np.float32, copy=False) @ self._w_obs + self._b_in + self._w_id[agent_ids]
        has_last = last_actions >= 0
        x += np.where(has_last[:, None], self._w_last[np.maximum(last_actions, 0)], 0.0)
        np.maximum(x, 0.0, out=x)
        gi = x @ self._w_ih + self._b_ih
        gh = hidden @ self._w_hh + self._b_hh
        h = self.hidden_dim
        reset = _sigmoid(gi[:, :h] + gh[:, :h])
        update = _sigmoid(gi[:, h : 2 * h] + gh[:, h : 2 * h])
        candidate = np.tanh(gi[:, 2 * h :] + reset * gh[:, 2 * h :])
        new_hidden = ((1.0 - update) * candidate + update * hidden).astype(np.float32, copy=False)
        return new_hidden @ self._w_out + self._b_out, new_hidden
