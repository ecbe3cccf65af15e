"""Mixers: how per-agent Q-values combine into the team's Q_tot during centralised training.

QMIX (Rashid et al. 2018) mixes with weights generated from the global state and forced non-negative, so
Q_tot is monotonic in every Q_i: each agent's greedy action is then also greedy for the team, which is what
makes decentralised execution consistent with the centralised objective. VDN is the special case of a plain
sum. IQL has no mixer at all: each agent learns its own Q against the shared team reward.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

MIXER_NAMES = ("qmix", "vdn", "iql")


class VDNMixer(nn.Module):
    """Q_tot = sum_i Q_i (Sunehag et al. 2017); the state is accepted for a common interface and ignored."""

    def forward(self, agent_qs: torch.Tensor, states: torch.Tensor | None = None) -> torch.Tensor:
        """agent_qs [..., n_agents] -> Q_tot [...]."""
        return agent_qs.sum(dim=-1)


class QMixer(nn.Module):
    """Monotonic mixing network whose weights and biases are outputs of hypernetworks fed the global state."""

    def __init__(self, n_agents: int, state_dim: int, embed_dim: int, hypernet_hidden_dim: int) -> None:
        super().__init__()
        self.n_agents = n_agents
        self.embed_dim = embed_dim
        # Weight hypernets: state -> |W|. Two layers give the mixing weights enough capacity to vary with state.
        self.hyper_w1 = nn.Sequential(
            nn.Linear(state_dim, hypernet_hidden_dim), nn.ReLU(), nn.Linear(hypernet_hidden_dim, embed_dim * n_agents)
        )
        self.hyper_w2 = nn.Sequential(
            nn.Linear(state_dim, hypernet_hidden_dim), nn.ReLU(), nn.Linear(hypernet_hidden_dim, embed_dim)
        )
        # Biases may be negative: they do not affect monotonicity. The final bias is a 2-layer hypernet (V(s)).
        self.hyper_b1 = nn.Linear(state_dim, embed_dim)
        self.hyper_b2 = nn.Sequential(nn.Linear(state_dim, embed_dim), nn.ReLU(), nn.Linear(embed_dim, 1))

    def mixing_weights(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Non-negative weights for a batch of states [B, state_dim]: W1 [B, n_agents, embed], W2 [B, embed, 1]."""
        w1 = torch.abs(self.hyper_w1(states)).view(-1, self.n_agents, self.embed_dim)
        w2 = torch.abs(self.hyper_w2(states)).view(-1, self.embed_dim, 1)
        return w1, w2

    def forward(self, agent_qs: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        """agent_qs [..., n_agents], states [..., state_dim] -> Q_tot [...]."""
        lead_shape = agent_qs.shape[:-1]
        qs = agent_qs.reshape(-1, 1, self.n_agents)
        states = states.reshape(-1, states.shape[-1])
        w1, w2 = self.mixing_weights(states)
        b1 = self.hyper_b1(states).view(-1, 1, self.embed_dim)
        b2 = self.hyper_b2(states).view(-1, 1, 1)
        hidden = F.elu(torch.bmm(qs, w1) + b1)
        q_tot = torch.bmm(hidden, w2) + b2
        return q_tot.view(lead_shape)


def make_mixer(name: str, n_agents: int, state_dim: int, embed_dim: int, hypernet_hidden_dim: int) -> nn.Module | None:
    """Build the mixer called ``name``; IQL returns None (no mixing, per-agent losses)."""
    if name == "qmix":
        return QMixer(n_agents, state_dim, embed_dim, hypernet_hidden_dim)
    if name == "vdn":
        return VDNMixer()
    if name == "iql":
        return None
    raise ValueError(f"unknown mixer {name!r}; expected one of {MIXER_NAMES}")
