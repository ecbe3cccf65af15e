"""QLearner: one gradient step of QMIX / VDN / IQL on a batch of episode windows.

Targets: double Q-learning by default (the online agent picks the argmax among VALID next actions, the
target agent evaluates it), masked actions set to -inf before any max, optional TD(lambda) returns within
the window, optional reward scaling by a running std. The loss is the mean squared TD error over real
(unpadded, non-burn-in) steps, plus the weighted demonstration margin loss when demonstrations are used.
QPLEX, weighted QMIX and QTRAN plug in as a JointObjective (see joint_view.py): it values the next states
for these same targets and turns them into its own loss, next to the agent network's.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from .buffer import EpisodeBatch
from .config import LearnerConfig
from .env_contract import EnvSpec
from .joint_view import JointView
from .mixers import make_mixer
from .networks import RNNAgent
from .objectives import make_joint_objective


class RunningMeanStd:
    """Running mean and variance of a stream of scalars (Chan et al. parallel update)."""

    def __init__(self) -> None:
        self.mean, self.var, self.count = 0.0, 1.0, 1e-4

    def update(self, values: torch.Tensor) -> None:
        """Fold a batch of values in."""
        values = values.double().flatten()
        if values.numel() == 0:
            return
        batch_mean, batch_var, n = values.mean().item(), values.var(unbiased=False).item(), values.numel()
        delta, total = batch_mean - self.mean, self.count + n
        self.mean += delta * n / total
        self.var = (self.var * self.count + batch_var * n + delta**2 * self.count * n / total) / total
        self.count = total

    def state_dict(self) -> dict[str, float]:
        """Plain floats for checkpoints."""
        return {"mean": self.mean, "var": self.var, "count": self.count}

    def load_state_dict(self, data: dict[str, float]) -> None:
        """Restore :meth:`state_dict`."""
        self.mean, self.var, self.count = float(data["mean"]), float(data["var"]), float(data["count"])


def td_targets(
    rewards: torch.Tensor,
    terminated: torch.Tensor,
    next_values: torch.Tensor,
    mask: torch.Tensor,
    gamma: float | torch.Tensor,
    td_lambda: float | None,
) -> torch.Tensor:
    """1-step or TD(lambda) targets over a window; all inputs [B, C, X] (X = 1 mixed, N for IQL).

    ``next_values[:, t]`` is the target network's value of the state after step t. ``gamma`` is one discount
    for every step, or a [B, C, 1] tensor of each step's own discount gamma_t (discounting per elapsed time,
    gamma_t = gamma ** (duration_t / unit)). The lambda-return
    G_t = r_t + gamma_t (1 - d_t) [(1 - lambda) V_{t+1} + lambda G_{t+1}] falls back to the plain bootstrap
    where step t + 1 is padding or outside the trained window.
    """
    not_done = 1.0 - terminated
    if td_lambda is None:
        return rewards + gamma * not_done * next_values
    # G_t = a_t + c_t G_{t+1}: a linear recurrence, solved for all t at once (no Python loop over time) as
    # G_t = sum_{k >= t} (prod_{t <= j < k} c_j) a_k, with the products from one cumulative product.
    length = rewards.shape[1]
    has_next = torch.cat([mask[:, 1:], torch.zeros_like(mask[:, :1])], dim=1)
    blend = td_lambda * has_next
    step_gamma = gamma * not_done  # [B, C, 1] (or a float times it)
    a = rewards + step_gamma * (1.0 - blend) * next_values  # [B, C, X]; X = 1 mixed, N for IQL
    c = (step_gamma * blend).expand_as(a)
    a_bx, c_bx = a.transpose(1, 2), c.transpose(1, 2)  # [B, X, C]
    later = torch.ones(length, length, dtype=torch.bool, device=a.device).triu()  # [t, j]: j >= t
    products = torch.where(later, c_bx.unsqueeze(-2), torch.ones_like(c_bx).unsqueeze(-2)).cumprod(dim=-1)
    weights = torch.cat([torch.ones_like(products[..., :1]), products[..., :-1]], dim=-1) * later  # [B, X, t, k]
    return (weights @ a_bx.unsqueeze(-1)).squeeze(-1).transpose(1, 2)


class QLearner:
    """Owns the agent and mixer networks, their targets and the optimiser; ``train`` does one update."""

    def __init__(self, spec: EnvSpec, config: LearnerConfig, device: torch.device | str = "cpu") -> None:
        self.spec, self.config = spec, config
        self.device = torch.device(device)
        self.agent = RNNAgent(spec.obs_dim, spec.n_actions, spec.n_agents, config.agent_hidden_dim).to(self.device)
        # QPLEX, weighted QMIX and QTRAN bring their own networks and losses (a JointObjective)
        self.objective = make_joint_objective(config, spec, self.device)
        self.mixer = None if self.objective is not None else make_mixer(
            config.mixer, spec.n_agents, spec.state_dim, config.mixer_embed_dim, config.hypernet_hidden_dim
        )
        if self.mixer is not None:
            self.mixer.to(self.device)
        self.target_agent = copy.deepcopy(self.agent)
        self.target_mixer = copy.deepcopy(self.mixer)
        self.params = list(self.agent.parameters())
        if self.mixer is not None:
            self.params += list(self.mixer.parameters())
        if self.objective is not None:
            self.params += self.objective.parameters()
        self.optimizer = torch.optim.Adam(self.params, lr=config.lr)
        self.reward_stats = RunningMeanStd()
        self.updates = 0

    def observe_rewards(self, rewards: torch.Tensor) -> None:
        """Update the running reward statistics with newly collected rewards (each counted once)."""
        self.reward_stats.update(rewards)

    def _unroll(self, agent: RNNAgent, batch: EpisodeBatch, *, grad: bool) -> torch.Tensor:
        """Q-values for the trained slots plus the bootstrap slot: [B, C + 1, N, A].

        The burn-in slots run without gradient; the GRU state is zeroed at each episode's first step.
        """
        b, slots, n = batch.obs.shape[:3]
        u = batch.burn_in

        def flat(x: torch.Tensor) -> torch.Tensor:  # [B, T, N, ...] -> [B * N, T, ...]
            return x.transpose(1, 2).reshape(b * n, x.shape[1], *x.shape[3:])

        obs, last = flat(batch.obs), flat(batch.last_actions)
        keep = (~batch.first).float().repeat_interleave(n, dim=0)  # [B * N, T]
        ids = torch.arange(n, device=self.device).repeat(b)
        hidden = agent.init_hidden(b * n)
        with torch.no_grad():
            if u > 0 and bool(keep[:, 1:u].all()):
                _, hidden = agent(obs[:, :u], last[:, :u], ids, hidden)  # no episode starts inside: one call
            elif u > 0:
                # a row whose episode starts at slot s < u warms up on slots s..u-1 only: shift it to the
                # front and let a packed sequence stop each row at its own length
                slots_before = torch.arange(u, device=self.device)
                start = torch.where(keep[:, :u] == 0, slots_before, torch.zeros_like(slots_before)).amax(dim=1)
                index = (start[:, None] + slots_before[None, :]).clamp(max=u - 1)
                shifted_obs = obs[:, :u].gather(1, index[..., None].expand(-1, -1, obs.shape[-1]))
                hidden = agent.final_hidden(shifted_obs, last[:, :u].gather(1, index), ids, u - start)
        hidden = hidden * keep[:, u : u + 1]
        with torch.set_grad_enabled(grad):
            q, _ = agent(obs[:, u:], last[:, u:], ids, hidden)
        return q.view(b, n, slots - u, -1).transpose(1, 2)

    def _mix(self, mixer: nn.Module | None, agent_qs: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        """[B, C, N] -> [B, C, 1] through the mixer, or unchanged [B, C, N] for IQL."""
        if mixer is None:
            return agent_qs
        return mixer(agent_qs, states).unsqueeze(-1)

    def train(self, batch: EpisodeBatch, demo_weight: float | None = None) -> dict[str, float]:
        """One gradient step; returns scalars for logging.

        ``td_loss`` is the mean squared TD error (with a JointObjective: its whole loss, whose parts come
        under their own keys, e.g. ``central_loss`` or ``opt_loss``), ``margin_loss`` the (unweighted)
        demonstration margin loss (0 when the batch has no demonstrated choice), and ``total_loss`` =
        td_loss_weight * td + weight * margin, the value that was minimised; the weight is ``demo_weight``
        (default: the config's ``demo_loss_weight``).
        """
        cfg, u = self.config, batch.burn_in
        weight = cfg.demo_loss_weight if demo_weight is None else demo_weight
        q = self._unroll(self.agent, batch, grad=True)
        with torch.no_grad():
            target_q = self._unroll(self.target_agent, batch, grad=False)
        chosen = q[:, :-1].gather(-1, batch.actions.unsqueeze(-1)).squeeze(-1)

        with torch.no_grad():
            next_avail = batch.avail[:, u + 1 :]
            # A final observation may carry an all-zero mask; treat it as all valid so max() stays finite.
            next_avail = next_avail | ~next_avail.any(dim=-1, keepdim=True)
            if cfg.double_q:
                best = q[:, 1:].detach().masked_fill(~next_avail, float("-inf")).argmax(dim=-1, keepdim=True)
                next_q = target_q[:, 1:].gather(-1, best).squeeze(-1)
            else:
                next_q = target_q[:, 1:].masked_fill(~next_avail, float("-inf")).max(dim=-1).values
            view = JointView(q=q, target_q=target_q, batch=batch, double_q=cfg.double_q, unroll=self._unroll)
            if self.objective is not None:
                next_values = self.objective.next_values(view)
            else:
                next_values = self._mix(self.target_mixer, next_q, batch.state[:, u + 1 :])

        chosen_values = self._mix(self.mixer, chosen, batch.state[:, u:-1])
        rewards = batch.rewards
        if cfg.standardise_rewards:
            rewards = rewards / (self.reward_stats.var**0.5 + 1e-8)
        mask = batch.mask.unsqueeze(-1)
        # per elapsed time (semi-MDP): a step of duration d is discounted by gamma ** (d / unit)
        discount = cfg.gamma if cfg.discount_per == "step" else (
            cfg.gamma ** (batch.durations / cfg.gamma_time_unit)).unsqueeze(-1)
        targets = td_targets(
            rewards.unsqueeze(-1), batch.terminated.unsqueeze(-1), next_values, mask, discount, cfg.td_lambda
        )
        joint_stats: dict[str, float] = {}
        if self.objective is not None:
            joint = self.objective.loss(view, targets.detach(), mask)
            td_loss, chosen_values, joint_stats = joint.loss, joint.q_tot, joint.stats
        else:
            td_error = (chosen_values - targets.detach()) * mask
            n_terms = mask.sum() * chosen_values.shape[-1]
            td_loss = td_error.pow(2).sum() / n_terms.clamp(min=1.0)
        margin_loss = self._margin_loss(q[:, :-1], batch, target_q[:, :-1]) if weight > 0.0 else None
        loss = cfg.td_loss_weight * td_loss
        if margin_loss is not None:
            loss = loss + weight * margin_loss

        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.params, cfg.grad_clip)
        self.optimizer.step()
        self.updates += 1
        self._update_targets()
        with torch.no_grad():
            real = mask.sum().clamp(min=1.0)
            q_taken = (chosen_values * mask).sum() / (real * chosen_values.shape[-1])
            target_mean = (targets * mask).sum() / (real * targets.shape[-1])
        return {
            "td_loss": float(td_loss.item()),
            "margin_loss": float(margin_loss.item()) if margin_loss is not None else 0.0,
            "total_loss": float(loss.item()),
            "grad_norm": float(grad_norm.item()),
            "q_taken_mean": float(q_taken.item()),
            "target_mean": float(target_mean.item()),
            **joint_stats,
        }

    def _margin_loss(self, q: torch.Tensor, batch: EpisodeBatch, target_q: torch.Tensor) -> torch.Tensor | None:
        """DQfD's supervised loss, max_a [Q(a) + margin * (a not accepted)] - max_{a accepted} Q(a), on
        demonstrated steps; the accepted actions are the teacher's and, where it names one, its alternative.

        Only where an agent had a real choice (more than one valid action), and with ``demo_q_filter``
        only where the target networks do not prefer another action by more than the margin; None when
        the batch holds no such step.
        """
        cfg = self.config
        expert = batch.expert
        avail = batch.avail[:, batch.burn_in : -1]
        where = (expert >= 0) & (avail.sum(dim=-1) > 1)
        accepted = _one_hot(expert, avail) | _one_hot(batch.expert_alt, avail)
        if cfg.demo_q_filter:
            with torch.no_grad():
                valued = target_q.masked_fill(~avail, float("-inf"))
                demo_value = valued.masked_fill(~accepted, float("-inf")).max(dim=-1).values
                where = where & (demo_value >= valued.max(dim=-1).values - cfg.demo_margin)
        if not bool(where.any()):
            return None
        margins = torch.full_like(q, cfg.demo_margin).masked_fill(accepted, 0.0)
        best = (q + margins).masked_fill(~avail, float("-inf")).max(dim=-1).values
        demonstrated = q.masked_fill(~accepted, float("-inf")).max(dim=-1).values
        return (best - demonstrated)[where].mean()

    def _update_targets(self) -> None:
        pairs = [(self.target_agent, self.agent)]
        if self.mixer is not None:
            pairs.append((self.target_mixer, self.mixer))
        if self.objective is not None:
            pairs += self.objective.target_pairs()
        tau = self.config.target_tau
        if tau is None and self.updates % self.config.target_update_interval != 0:
            return
        with torch.no_grad():
            for target, online in pairs:
                for t_param, o_param in zip(target.parameters(), online.parameters(), strict=True):
                    if tau is None:
                        t_param.copy_(o_param)
                    else:
                        t_param.lerp_(o_param, tau)

    def state_dict(self) -> dict[str, Any]:
        """Weights, targets, optimiser and reward statistics as plain containers."""
        data = {
            "agent": self.agent.state_dict(),
            "mixer": self.mixer.state_dict() if self.mixer is not None else None,
            "target_agent": self.target_agent.state_dict(),
            "target_mixer": self.target_mixer.state_dict() if self.target_mixer is not None else None,
            "optimizer": self.optimizer.state_dict(),
            "reward_stats": self.reward_stats.state_dict(),
            "updates": self.updates,
        }
        if self.objective is not None:  # QPLEX's mixer, weighted QMIX's Q*, QTRAN's Q_jt and V, with targets
            data["objective"] = self.objective.state_dict()
        return data

    def load_state_dict(self, data: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (shapes must match the config and env spec)."""
        self.agent.load_state_dict(data["agent"])
        self.target_agent.load_state_dict(data["target_agent"])
        if self.mixer is not None:
            self.mixer.load_state_dict(data["mixer"])
            self.target_mixer.load_state_dict(data["target_mixer"])
        if self.objective is not None:
            self.objective.load_state_dict(data["objective"])
        self.optimizer.load_state_dict(data["optimizer"])
        self.reward_stats.load_state_dict(data["reward_stats"])
        self.updates = int(data["updates"])


def _one_hot(actions: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Boolean one-hot of ``actions`` over the last axis of ``like``; -1 (no action) sets nothing."""
    hot = torch.zeros_like(like, dtype=torch.bool)
    return hot.scatter_(-1, actions.clamp(min=0).unsqueeze(-1), True) & (actions >= 0).unsqueeze(-1)
