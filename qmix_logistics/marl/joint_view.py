"""What the mixers beyond monotonic mixing share: a view of one batch, and the shape of their objective.

QMIX, VDN and IQL train one value (Q_tot or each Q_i) by plain TD. QPLEX, weighted QMIX and QTRAN instead
own extra networks (a duplex mixer, an unrestricted Q*, a joint Q and a V) and losses of their own. Each is
a :class:`JointObjective`: it values the next states for the learner's TD targets (so TD(lambda), reward
scaling and per-step discounts are the learner's, shared with QMIX), and turns those targets into a loss.
The learner keeps the agent network, the optimiser, the demonstration loss and the target schedule.
"""

from __future__ import annotations

import abc
import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .buffer import EpisodeBatch
from .networks import RNNAgent

#: The learner's unroll: (agent network, batch, grad=...) -> Q-values [B, C + 1, N, A] of every slot.
Unroll = Callable[..., torch.Tensor]


@dataclass
class JointView:
    """One training batch as the joint objectives see it; slot 0 is the first trained step, slot C the bootstrap.

    Derived tensors are computed once and cached; ``cache`` lets an objective keep its own (for example
    its target network's unroll, needed both for the next states and for the current ones).
    """

    q: torch.Tensor
    """[B, C + 1, N, A] the online agent network's Q-values (with gradient)."""
    target_q: torch.Tensor
    """[B, C + 1, N, A] the target agent network's Q-values."""
    batch: EpisodeBatch
    """The batch itself (for states, actions and for unrolling other recurrent networks)."""
    double_q: bool
    """Next actions come from the online utilities (True) or the target utilities (False)."""
    unroll: Unroll
    """Unrolls another agent-shaped network over the batch's windows like the learner's own agent."""
    cache: dict[str, Any] = field(default_factory=dict)
    """Free room for an objective's intermediate tensors, for the life of this batch."""

    @cached_property
    def avail(self) -> torch.Tensor:
        """[B, C + 1, N, A] bool masks; an all-zero mask (a final observation) counts as all valid."""
        avail = self.batch.avail[:, self.batch.burn_in :]
        return avail | ~avail.any(dim=-1, keepdim=True)

    @property
    def states(self) -> torch.Tensor:
        """[B, C + 1, state_dim] global states of the trained slots and the bootstrap slot."""
        return self.batch.state[:, self.batch.burn_in :]

    @property
    def actions(self) -> torch.Tensor:
        """[B, C, N] joint actions taken."""
        return self.batch.actions

    @property
    def chosen(self) -> torch.Tensor:
        """[B, C, N] online Q_i of the actions taken (with gradient)."""
        return self.q[:, :-1].gather(-1, self.actions.unsqueeze(-1)).squeeze(-1)

    @cached_property
    def greedy(self) -> torch.Tensor:
        """[B, C + 1, N] each agent's greedy valid action under the online utilities (what it executes)."""
        return self.q.detach().masked_fill(~self.avail, float("-inf")).argmax(dim=-1)

    @cached_property
    def next_actions(self) -> torch.Tensor:
        """[B, C, N] the greedy joint action in the next states, at which the targets are valued."""
        if self.double_q:
            return self.greedy[:, 1:]
        return self.target_q[:, 1:].masked_fill(~self.avail[:, 1:], float("-inf")).argmax(dim=-1)

    def one_hot(self, actions: torch.Tensor) -> torch.Tensor:
        """[..., N] actions -> [..., N * A] float: the joint action as one concatenated one-hot vector."""
        n_actions = self.q.shape[-1]
        return F.one_hot(actions, n_actions).to(self.q.dtype).flatten(start_dim=-2)


@dataclass
class JointLoss:
    """An objective's loss on one batch."""

    loss: torch.Tensor
    """The scalar the optimiser minimises (before the learner adds the demonstration loss)."""
    q_tot: torch.Tensor
    """[B, C, 1] the joint value of the actions taken, as the objective values them (for logging)."""
    stats: dict[str, float]
    """Named parts of the loss and other figures, logged with the learner's statistics."""


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` over the real (mask 1) steps; values and mask are [B, C, 1]."""
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


def greedy_values(q: torch.Tensor, avail: torch.Tensor) -> torch.Tensor:
    """V_i = max over valid actions of Q_i: q [..., N, A], avail [..., N, A] bool -> [..., N]."""
    return q.masked_fill(~avail, float("-inf")).max(dim=-1).values


def feed_forward(in_dim: int, hidden_dim: int, out_dim: int, layers: int = 2) -> nn.Sequential:
    """``layers`` ReLU hidden layers of ``hidden_dim`` units, then a linear output of ``out_dim``."""
    modules: list[nn.Module] = []
    width = in_dim
    for _ in range(layers):
        modules += [nn.Linear(width, hidden_dim), nn.ReLU()]
        width = hidden_dim
    modules.append(nn.Linear(width, out_dim))
    return nn.Sequential(*modules)


class JointObjective(abc.ABC):
    """Online networks, their targets, next-state values and the loss of one non-monotonic method."""

    def __init__(self, online: nn.ModuleDict, device: torch.device) -> None:
        self.online = online.to(device)
        self.target = copy.deepcopy(self.online)
        for param in self.target.parameters():
            param.requires_grad_(False)

    def parameters(self) -> list[nn.Parameter]:
        """The trained parameters (the optimiser gets these besides the agent network's)."""
        return list(self.online.parameters())

    def target_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        """(target, online) pairs the learner copies or averages on its target schedule."""
        return [(self.target, self.online)]

    def num_parameters(self) -> int:
        """Trained parameters beyond the agent network (the cost of the method in memory)."""
        return sum(param.numel() for param in self.parameters())

    def state_dict(self) -> dict[str, Any]:
        """Online and target weights, for checkpoints."""
        return {"online": self.online.state_dict(), "target": self.target.state_dict()}

    def load_state_dict(self, data: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.online.load_state_dict(data["online"])
        self.target.load_state_dict(data["target"])

    @abc.abstractmethod
    def next_values(self, view: JointView) -> torch.Tensor:
        """[B, C, 1] the target networks' value of each next state at ``view.next_actions`` (no gradient)."""

    @abc.abstractmethod
    def loss(self, view: JointView, targets: torch.Tensor, mask: torch.Tensor) -> JointLoss:
        """The loss given the TD targets [B, C, 1] (detached) and the real-step mask [B, C, 1]."""


def unroll_target_agent(view: JointView, agent: RNNAgent, key: str) -> torch.Tensor:
    """``agent``'s Q-values over the batch without gradient, computed once per batch and cached under ``key``."""
    if key not in view.cache:
        with torch.no_grad():
            view.cache[key] = view.unroll(agent, view.batch, grad=False)
    return view.cache[key]
