"""Learning from the env's suggestions: demonstrations in the buffer and the large-margin loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qmix_logistics.marl import EnvSpec, Episode, EpisodeBuffer, LearnerConfig, QLearner


def _episode(length: int, n_agents: int, n_actions: int, *, demo: bool) -> Episode:
    rng = np.random.default_rng(length)
    expert = rng.integers(0, n_actions, size=(length, n_agents))
    return Episode(
        obs=rng.random((length + 1, n_agents, 3)).astype(np.float32),
        state=rng.random((length + 1, 5)).astype(np.float32),
        avail=np.ones((length + 1, n_agents, n_actions), dtype=bool),
        actions=expert.copy(),
        rewards=rng.random(length).astype(np.float32),
        terminated=True,
        seed=0,
        expert=expert,
        demo=demo,
    )


def test_only_demonstrations_carry_expert_actions_into_batches() -> None:
    buf = EpisodeBuffer(2, 3, 5, 4, 1.0)
    demo, plain = _episode(6, 2, 4, demo=True), _episode(7, 2, 4, demo=False)
    buf.add(demo)
    buf.add(plain)
    batch = buf.sample(16, np.random.default_rng(0))
    for b in range(16):
        steps = int(batch.mask[b].sum())
        shown = batch.expert[b, :steps].numpy()
        assert (shown == -1).all() or (steps == 6 and np.array_equal(shown, demo.expert))


def test_margin_loss_is_zero_once_the_demonstrated_action_leads_by_the_margin() -> None:
    spec = EnvSpec(("a", "b"), 3, 5, 4)
    learner = QLearner(spec, LearnerConfig(demo_margin=0.5))
    buf = EpisodeBuffer(2, 3, 5, 4, 1.0)
    buf.add(_episode(5, 2, 4, demo=True))
    batch = buf.sample(4, np.random.default_rng(1))
    expert = batch.expert
    q = torch.zeros(*expert.shape, 4)
    loss = learner._margin_loss(q, batch)
    assert loss is not None and torch.isclose(loss, torch.tensor(0.5))
    q.scatter_(-1, expert.clamp(min=0).unsqueeze(-1), 1.0)  # demonstrated action leads by 1 > margin
    assert torch.isclose(learner._margin_loss(q, batch), torch.tensor(0.0))
    assert QLearner(spec, LearnerConfig(demo_loss_weight=0.0))._margin_loss(q, batch) is None


def test_update_reports_td_margin_and_total_loss_separately() -> None:
    spec = EnvSpec(("a", "b"), 3, 5, 4)
    buf = EpisodeBuffer(2, 3, 5, 4, 1.0)
    buf.add(_episode(5, 2, 4, demo=True))
    batch = buf.sample(4, np.random.default_rng(1))
    torch.manual_seed(0)
    stats = QLearner(spec, LearnerConfig(demo_loss_weight=2.0, demo_margin=0.8)).train(batch)
    assert stats["margin_loss"] > 0.0 and stats["td_loss"] > 0.0
    assert stats["total_loss"] == pytest.approx(stats["td_loss"] + 2.0 * stats["margin_loss"], rel=1e-5)
    torch.manual_seed(0)  # the same update without demonstrations: the TD part alone, nothing added
    plain = QLearner(spec, LearnerConfig(demo_loss_weight=0.0)).train(batch)
    assert plain["td_loss"] == pytest.approx(stats["td_loss"]) and plain["total_loss"] == plain["td_loss"]
    assert plain["margin_loss"] == 0.0


def test_warmup_without_suggestions_explores_uniformly_and_still_solves_two_step(tmp_path) -> None:
    from qmix_logistics.marl import train
    from qmix_logistics.marl.testing import make_two_step_game, two_step_config

    cfg = two_step_config(seed=0, expert_warmup_episodes=20, expert_share=1.0)
    result = train(make_two_step_game, cfg, tmp_path / "run")
    assert result.last_eval["return"] == 8.0
