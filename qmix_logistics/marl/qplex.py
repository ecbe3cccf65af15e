"""QPLEX (Wang et al. 2021): duplex dueling mixing, which represents every payoff that greedy agents can follow.

Each agent's utility is split into a value and an advantage, V_i = max_a Q_i(a) over valid actions and
A_i = Q_i - V_i <= 0. A state-conditioned transformation with positive weights, V_i' = w_i(s) V_i + b_i(s)
and A_i' = w_i(s) A_i, keeps their signs, and the team value is

    Q_tot(s, u) = sum_i V_i' + sum_i lambda_i(s, u) A_i',    lambda_i > 0,

with lambda_i(s, u) = sum_k lambda_ik(s, u) phi_ik(s) v_k(s) over K attention heads: sigmoid weights on the
state with the joint action and on the state alone, and a positive key per head. Because every A_i' <= 0 and
lambda_i > 0, Q_tot is largest exactly where every A_i = 0, i.e. at the agents' own greedy actions (IGM); yet
lambda depends on the joint action, so Q_tot can take any value away from the greedy joint action, which a
monotonic mixer cannot.

Gradients follow the authors' implementation: the utilities are trained through sum_i (w_i Q_i + b_i)
(the same value as sum_i V_i' + A_i'), while the non-linear part sum_i (lambda_i - 1) A_i' treats the
advantages as constants, so only lambda learns the interactions (``stop_gradient=False`` gives the plain
formula's gradients).
"""

from __future__ import annotations

import torch
from torch import nn

from .joint_view import (
    JointLoss,
    JointObjective,
    JointView,
    feed_forward,
    greedy_values,
    masked_mean,
)

#: Keeps the transformation's weights and the advantage weights strictly positive.
MIN_WEIGHT = 1e-10


class QPLEXMixer(nn.Module):
    """Duplex dueling mixer: positive transformation of (V_i, A_i) and attention-weighted advantages."""

    def __init__(
        self,
        n_agents: int,
        n_actions: int,
        state_dim: int,
        hidden_dim: int,
        n_heads: int,
        *,
        stop_gradient: bool = True,
    ) -> None:
        super().__init__()
        self.n_agents, self.n_actions, self.n_heads = n_agents, n_actions, n_heads
        self.stop_gradient = stop_gradient
        # transformation of each agent's (V_i, A_i): w_i(s) > 0 and b_i(s)
        self.transform_weights = feed_forward(state_dim, hidden_dim, n_agents, layers=1)
        self.transform_biases = feed_forward(state_dim, hidden_dim, n_agents, layers=1)
        # attention heads: a positive key v_k(s), and sigmoid weights phi_ik(s) and lambda_ik(s, u)
        self.head_keys = feed_forward(state_dim, hidden_dim, n_heads)
        self.state_attention = feed_forward(state_dim, hidden_dim, n_heads * n_agents)
        self.action_attention = feed_forward(state_dim + n_agents * n_actions, hidden_dim, n_heads * n_agents)

    def transformation(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """states [M, state_dim] -> (w [M, N] strictly positive, b [M, N])."""
        weights = torch.abs(self.transform_weights(states)) + MIN_WEIGHT
        return weights, self.transform_biases(states)

    def lambdas(self, states: torch.Tensor, joint_actions: torch.Tensor) -> torch.Tensor:
        """Positive advantage weights lambda_i(s, u): states [M, S], one-hot joint actions [M, N * A] -> [M, N]."""
        m = states.shape[0]
        keys = (torch.abs(self.head_keys(states)) + MIN_WEIGHT).view(m, self.n_heads, 1)
        on_state = torch.sigmoid(self.state_attention(states)).view(m, self.n_heads, self.n_agents)
        on_action = torch.sigmoid(self.action_attention(torch.cat([states, joint_actions], dim=-1)))
        on_action = on_action.view(m, self.n_heads, self.n_agents)
        # the floor keeps lambda > 0 where float32 sigmoids of large negative inputs underflow to 0
        return (keys * on_state * on_action).sum(dim=1) + MIN_WEIGHT

    def forward(
        self, agent_qs: torch.Tensor, max_qs: torch.Tensor, joint_actions: torch.Tensor, states: torch.Tensor
    ) -> torch.Tensor:
        """Q_tot of the joint action: agent_qs and max_qs (V_i) [..., N], joint one-hot [..., N * A],
        states [..., S] -> [...]."""
        lead_shape = agent_qs.shape[:-1]
        qs = agent_qs.reshape(-1, self.n_agents)
        values = max_qs.reshape(-1, self.n_agents)
        states = states.reshape(-1, states.shape[-1])
        weights, biases = self.transformation(states)
        lambdas = self.lambdas(states, joint_actions.reshape(-1, joint_actions.shape[-1]))
        advantages = weights * (qs - values)
        if self.stop_gradient:
            q_tot = (weights * qs + biases).sum(-1) + ((lambdas - 1.0) * advantages.detach()).sum(-1)
        else:
            q_tot = (weights * values + biases).sum(-1) + (lambdas * advantages).sum(-1)
        return q_tot.view(lead_shape)


class QPLEXObjective(JointObjective):
    """TD on QPLEX's Q_tot; the targets value the next greedy joint action with the target mixer."""

    def __init__(
        self, n_agents: int, n_actions: int, state_dim: int, hidden_dim: int, n_heads: int, device: torch.device
    ) -> None:
        super().__init__(nn.ModuleDict({"mixer": QPLEXMixer(n_agents, n_actions, state_dim, hidden_dim, n_heads)}),
                         device)

    def next_values(self, view: JointView) -> torch.Tensor:
        """Target Q_tot at the next greedy joint action (with double Q its advantages may be below zero)."""
        target_q, avail, actions = view.target_q[:, 1:], view.avail[:, 1:], view.next_actions
        chosen = target_q.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
        mixed = self.target["mixer"](chosen, greedy_values(target_q, avail), view.one_hot(actions),
                                     view.states[:, 1:])
        return mixed.unsqueeze(-1)

    def loss(self, view: JointView, targets: torch.Tensor, mask: torch.Tensor) -> JointLoss:
        """Mean squared TD error of Q_tot(s, u) over real steps."""
        values = greedy_values(view.q[:, :-1].detach(), view.avail[:, :-1])
        q_tot = self.online["mixer"](view.chosen, values, view.one_hot(view.actions), view.states[:, :-1])
        q_tot = q_tot.unsqueeze(-1)
        td_loss = masked_mean((q_tot - targets).pow(2), mask)
        return JointLoss(loss=td_loss, q_tot=q_tot, stats={"qplex_td_loss": float(td_loss.item())})
