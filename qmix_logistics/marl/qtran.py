"""QTRAN-base (Son et al. 2019): factorise through constraints instead of a restricted mixer.

A joint action-value network Q_jt(s, u) is trained by TD and may represent any payoff. The agents'
utilities only have to be a consistent factorisation of it: with a state-value network V(s),

    sum_i Q_i(u_i) - Q_jt(s, u) + V(s) = 0   at the greedy joint action u = (argmax Q_i)_i,    (L_opt)
                                       >= 0   at every other joint action,                      (L_nopt)

which makes the agents' greedy joint action also maximise Q_jt. Both conditions are squared penalties
weighted by ``qtran_opt_weight`` and ``qtran_nopt_weight`` (defaults 1 and 0.1, the weights of the authors'
released configuration); Q_jt is held fixed in them, so they shape the utilities and V, while Q_jt learns
only from TD. This is QTRAN-base (not QTRAN-alt). The paper's Q_jt reads the agents' hidden features;
here it reads the global state and the one-hot joint action, like QMIX's hypernetworks read the state.
The TD targets value the next state at the utilities' greedy joint action with the target Q_jt.
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


def qtran_losses(
    sum_q_greedy: torch.Tensor,
    q_jt_greedy: torch.Tensor,
    sum_q_taken: torch.Tensor,
    q_jt_taken: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(L_opt, L_nopt), each a mean over real steps; every input is [B, C, 1].

    L_opt = (sum_i Q_i(greedy) - Q_jt(greedy) + V)^2 and L_nopt = min(sum_i Q_i(u) - Q_jt(u) + V, 0)^2 at the
    action taken. Pass Q_jt detached to hold it fixed, as QTRAN does.
    """
    opt_gap = sum_q_greedy - q_jt_greedy + value
    nopt_gap = sum_q_taken - q_jt_taken + value
    return masked_mean(opt_gap.pow(2), mask), masked_mean(nopt_gap.clamp(max=0.0).pow(2), mask)


class QTRANObjective(JointObjective):
    """Joint Q_jt by TD, plus QTRAN-base's two factorisation penalties on the utilities and V(s)."""

    def __init__(
        self,
        n_agents: int,
        n_actions: int,
        state_dim: int,
        hidden_dim: int,
        opt_weight: float,
        nopt_weight: float,
        device: torch.device,
    ) -> None:
        online = nn.ModuleDict({
            "joint_q": feed_forward(state_dim + n_agents * n_actions, hidden_dim, 1),
            "value": feed_forward(state_dim, hidden_dim, 1),
        })
        super().__init__(online, device)
        self.opt_weight, self.nopt_weight = opt_weight, nopt_weight

    @staticmethod
    def joint_q(networks: nn.ModuleDict, view: JointView, actions: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        """Q_jt(s, u) [B, T, 1] for joint actions [B, T, N] in states [B, T, S]."""
        return networks["joint_q"](torch.cat([states, view.one_hot(actions)], dim=-1))

    def next_values(self, view: JointView) -> torch.Tensor:
        """Target Q_jt(s', u') at the utilities' greedy joint action u'."""
        return self.joint_q(self.target, view, view.next_actions, view.states[:, 1:])

    def loss(self, view: JointView, targets: torch.Tensor, mask: torch.Tensor) -> JointLoss:
        """L_td + opt_weight * L_opt + nopt_weight * L_nopt."""
        states = view.states[:, :-1]
        q_jt = self.joint_q(self.online, view, view.actions, states)
        td_loss = masked_mean((q_jt - targets).pow(2), mask)
        greedy = view.greedy[:, :-1]
        q_jt_greedy = self.joint_q(self.online, view, greedy, states).detach()
        sum_q_greedy = greedy_values(view.q[:, :-1], view.avail[:, :-1]).sum(dim=-1, keepdim=True)
        sum_q_taken = view.chosen.sum(dim=-1, keepdim=True)
        value = self.online["value"](states)
        opt_loss, nopt_loss = qtran_losses(sum_q_greedy, q_jt_greedy, sum_q_taken, q_jt.detach(), value, mask)
        loss = td_loss + self.opt_weight * opt_loss + self.nopt_weight * nopt_loss
        return JointLoss(
            loss=loss,
            q_tot=q_jt,
            stats={"qtran_td_loss": float(td_loss.item()), "opt_loss": float(opt_loss.item()),
                   "nopt_loss": float(nopt_loss.item())},
        )
