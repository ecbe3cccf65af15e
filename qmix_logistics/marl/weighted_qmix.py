"""Weighted QMIX (Rashid et al. 2020): QMIX's projection weighted towards the joint actions that matter.

QMIX fits Q_tot to its targets with equal weight on every joint action, so in a non-monotonic game the many
poor joint actions can drag the best one below a safe one. Weighted QMIX keeps QMIX's monotonic mixer for
execution and adds two things:

- an unrestricted centralised Q*(s, u), here as in the paper's implementation: its own recurrent agent
  network gives each agent's utility of its action, and a feed-forward net maps [state, those N utilities]
  to Q*. It is trained by plain TD, and the targets of both networks come from it,
  y = r + gamma * Q*_target(s', u'), where u' is the greedy joint action of the QMIX utilities;
- a weighted QMIX loss w(s, u) (Q_tot(s, u) - y)^2 with w = 1 where a condition holds and ``alpha`` elsewhere.
  Centrally weighted (CW): u is the greedy joint action, or y > Q*_target(s, greedy joint action), i.e. u
  might be better than what the agents do now. Optimistically weighted (OW): Q_tot(s, u) < y, i.e. QMIX
  underestimates u.

``alpha`` defaults to 0.1, the value of the authors' released configuration for both weightings.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from .joint_view import (
    JointLoss,
    JointObjective,
    JointView,
    feed_forward,
    masked_mean,
    unroll_target_agent,
)
from .mixers import QMixer
from .networks import RNNAgent

Weighting = Literal["cw", "ow"]


def centrally_weighted(
    is_greedy: torch.Tensor, targets: torch.Tensor, q_star_greedy: torch.Tensor, alpha: float
) -> torch.Tensor:
    """CW weights: 1 where the joint action is the greedy one or y > Q*(s, greedy), else ``alpha`` (same shapes)."""
    keep = is_greedy | (targets > q_star_greedy)
    return torch.where(keep, torch.ones_like(targets), torch.full_like(targets, alpha))


def optimistically_weighted(q_tot: torch.Tensor, targets: torch.Tensor, alpha: float) -> torch.Tensor:
    """OW weights: 1 where Q_tot(s, u) < y (QMIX underestimates u), else ``alpha`` (same shapes)."""
    return torch.where(q_tot < targets, torch.ones_like(targets), torch.full_like(targets, alpha))


class WeightedQMIXObjective(JointObjective):
    """QMIX mixer trained with a weighted loss next to an unrestricted Q*; targets come from Q*."""

    def __init__(
        self,
        weighting: Weighting,
        alpha: float,
        *,
        n_agents: int,
        n_actions: int,
        obs_dim: int,
        state_dim: int,
        agent_hidden_dim: int,
        mixer_embed_dim: int,
        hypernet_hidden_dim: int,
        central_hidden_dim: int,
        device: torch.device,
    ) -> None:
        online = nn.ModuleDict({
            "mixer": QMixer(n_agents, state_dim, mixer_embed_dim, hypernet_hidden_dim),
            "central_agent": RNNAgent(obs_dim, n_actions, n_agents, agent_hidden_dim),
            "central_mixer": feed_forward(state_dim + n_agents, central_hidden_dim, 1),
        })
        super().__init__(online, device)
        self.weighting, self.alpha = weighting, alpha

    @staticmethod
    def _q_star(networks: nn.ModuleDict, central_q: torch.Tensor, actions: torch.Tensor,
                states: torch.Tensor) -> torch.Tensor:
        """Q*(s, u) [B, T, 1] from the central agent's Q-values [B, T, N, A], actions [B, T, N], states [B, T, S]."""
        utilities = central_q.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
        return networks["central_mixer"](torch.cat([states, utilities], dim=-1))

    def _target_central_q(self, view: JointView) -> torch.Tensor:
        return unroll_target_agent(view, self.target["central_agent"], "wqmix_target_central_q")

    def next_values(self, view: JointView) -> torch.Tensor:
        """Q*_target(s', u') at the QMIX utilities' greedy joint action u'."""
        return self._q_star(self.target, self._target_central_q(view)[:, 1:], view.next_actions, view.states[:, 1:])

    def loss_weights(self, view: JointView, q_tot: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """[B, C, 1] weights of the QMIX loss, each ``alpha`` or 1 (no gradient)."""
        with torch.no_grad():
            if self.weighting == "ow":
                return optimistically_weighted(q_tot, targets, self.alpha)
            greedy = view.greedy[:, :-1]
            is_greedy = (view.actions == greedy).all(dim=-1, keepdim=True)
            q_star_greedy = self._q_star(self.target, self._target_central_q(view)[:, :-1], greedy,
                                         view.states[:, :-1])
            return centrally_weighted(is_greedy, targets, q_star_greedy, self.alpha)

    def loss(self, view: JointView, targets: torch.Tensor, mask: torch.Tensor) -> JointLoss:
        """Weighted QMIX loss plus Q*'s TD loss (equal weights, as in the paper)."""
        states = view.states[:, :-1]
        q_tot = self.online["mixer"](view.chosen, states).unsqueeze(-1)
        central_q = view.unroll(self.online["central_agent"], view.batch, grad=True)[:, :-1]
        q_star = self._q_star(self.online, central_q, view.actions, states)
        weights = self.loss_weights(view, q_tot.detach(), targets)
        qmix_loss = masked_mean(weights * (q_tot - targets).pow(2), mask)
        central_loss = masked_mean((q_star - targets).pow(2), mask)
        return JointLoss(
            loss=qmix_loss + central_loss,
            q_tot=q_tot,
            stats={
                "qmix_loss": float(qmix_loss.item()),
                "central_loss": float(central_loss.item()),
                "weight_mean": float(masked_mean(weights, mask).item()),
            },
        )
