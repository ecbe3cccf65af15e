"""The agent network: one recurrent Q-network shared by all agents.

Sharing parameters lets every agent learn from every other agent's experience; the one-hot agent id in the
input still lets behaviour differ per agent. The GRU carries what the agent saw earlier in the episode, which
matters when the observation is only a local view.
"""

from __future__ import annotations

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
