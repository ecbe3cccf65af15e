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


def _demo_batch():
    """Four windows sampled from one 5-step demonstration of 2 agents with 4 actions."""
    buf = EpisodeBuffer(2, 3, 5, 4, 1.0)
    buf.add(_episode(5, 2, 4, demo=True))
    return buf.sample(4, np.random.default_rng(1))


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
    batch = _demo_batch()
    expert = batch.expert
    q = torch.zeros(*expert.shape, 4)
    loss = learner._margin_loss(q, batch, q)
    assert loss is not None and torch.isclose(loss, torch.tensor(0.5))
    q.scatter_(-1, expert.clamp(min=0).unsqueeze(-1), 1.0)  # demonstrated action leads by 1 > margin
    assert torch.isclose(learner._margin_loss(q, batch, q), torch.tensor(0.0))


def test_q_filter_lets_the_critic_overrule_the_teacher() -> None:
    spec = EnvSpec(("a", "b"), 3, 5, 4)
    batch = _demo_batch()
    q = torch.zeros(*batch.expert.shape, 4)
    critic = torch.full_like(q, 5.0)  # the target networks value every other action 5 above the teacher's
    critic.scatter_(-1, batch.expert.clamp(min=0).unsqueeze(-1), 0.0)
    filtered = QLearner(spec, LearnerConfig(demo_margin=0.5, demo_q_filter=True))
    assert filtered._margin_loss(q, batch, critic) is None
    agreeing = torch.zeros_like(q)  # within the margin: the teacher is still imitated
    assert torch.isclose(filtered._margin_loss(q, batch, agreeing), torch.tensor(0.5))


def test_an_accepted_alternative_satisfies_the_margin_as_the_teachers_action_does() -> None:
    spec = EnvSpec(("a", "b"), 3, 5, 4)
    learner = QLearner(spec, LearnerConfig(demo_margin=0.5))
    buf = EpisodeBuffer(2, 3, 5, 4, 1.0)
    episode = _episode(5, 2, 4, demo=True)
    episode.expert_alt = (episode.expert + 1) % 4
    episode.expert_alt[0] = -1  # no alternative at the first step
    buf.add(episode)
    batch = buf.sample(4, np.random.default_rng(1))
    shown = batch.expert_alt[batch.mask.bool()]
    assert (shown >= 0).any() and (shown == -1).any()
    q = torch.zeros(*batch.expert.shape, 4)
    alone = batch.expert_alt < 0
    # the alternative leads by 1 > margin where there is one
    q.scatter_(-1, batch.expert_alt.clamp(min=0).unsqueeze(-1), (~alone).float().unsqueeze(-1))
    expected = 0.5 * alone[batch.expert >= 0].float().mean()  # only steps without one keep a margin to pay
    assert torch.isclose(learner._margin_loss(q, batch, q), expected)


def test_the_demonstration_weight_anneals_to_its_final_value() -> None:
    cfg = LearnerConfig(demo_loss_weight=3.0, demo_weight_final=0.5, demo_weight_decay_steps=1000)
    assert cfg.demo_weight_at(0) == 3.0 and cfg.demo_weight_at(500) == pytest.approx(1.75)
    assert cfg.demo_weight_at(10**6) == 0.5 and LearnerConfig(demo_loss_weight=2.0).demo_weight_at(10**6) == 2.0


def test_a_demonstration_buffer_holds_every_episode_it_is_given() -> None:
    episodes = [_episode(n, 2, 4, demo=True) for n in (5, 9, 3, 7)]
    buf = EpisodeBuffer.holding(episodes)
    assert len(buf) == 4 and buf.capacity_steps >= sum(e.length + 1 for e in episodes)


def _optimal_two_step_demo() -> Episode:
    """The joint plan worth 8: agent_0 picks state 2B, then both pick action 1."""
    eye = np.eye(4, dtype=np.float32)
    obs = np.stack([np.stack([eye[s]] * 2) for s in (0, 2, 3)])
    actions = np.array([[1, 0], [1, 1]])
    return Episode(obs=obs, state=eye[[0, 2, 3]], avail=np.ones((3, 2, 2), dtype=bool), actions=actions,
                   rewards=np.array([0.0, 8.0], dtype=np.float32), terminated=True, seed=0, expert=actions.copy(),
                   demo=True)


def test_demonstrations_teach_vdn_the_joint_plan_it_cannot_find_alone(tmp_path) -> None:
    from qmix_logistics.marl import train
    from qmix_logistics.marl.testing import make_two_step_game, two_step_config

    cfg = two_step_config(seed=0, mixer="vdn", total_env_steps=200, pretrain_updates=100, demo_loss_weight=2.0)
    result = train(make_two_step_game, cfg, tmp_path / "run", demonstrations=[_optimal_two_step_demo()] * 4)
    assert result.last_eval["return"] == 8.0  # VDN alone settles for 7 (test_marl_two_step)


def test_update_reports_td_margin_and_total_loss_separately() -> None:
    spec = EnvSpec(("a", "b"), 3, 5, 4)
    batch = _demo_batch()
    torch.manual_seed(0)
    stats = QLearner(spec, LearnerConfig(demo_loss_weight=2.0, demo_margin=0.8)).train(batch)
    assert stats["margin_loss"] > 0.0 and stats["td_loss"] > 0.0
    assert stats["total_loss"] == pytest.approx(stats["td_loss"] + 2.0 * stats["margin_loss"], rel=1e-5)
    torch.manual_seed(0)  # the same update without demonstrations: the TD part alone, nothing added
    plain = QLearner(spec, LearnerConfig(demo_loss_weight=0.0)).train(batch)
    assert plain["td_loss"] == pytest.approx(stats["td_loss"]) and plain["total_loss"] == plain["td_loss"]
    assert plain["margin_loss"] == 0.0


@pytest.mark.slow
def test_warmup_without_suggestions_explores_uniformly_and_still_solves_two_step(tmp_path) -> None:
    from qmix_logistics.marl import train
    from qmix_logistics.marl.testing import make_two_step_game, two_step_config

    cfg = two_step_config(seed=0, expert_warmup_episodes=20, expert_share=1.0)
    result = train(make_two_step_game, cfg, tmp_path / "run")
    assert result.last_eval["return"] == 8.0


def test_imitation_only_leaves_the_mixer_untouched_and_still_fits_the_teacher() -> None:
    spec = EnvSpec(("a", "b"), 3, 5, 4)
    batch = _demo_batch()
    torch.manual_seed(0)
    learner = QLearner(spec, LearnerConfig(td_loss_weight=0.0, demo_loss_weight=1.0, demo_margin=0.8))
    mixer_before = [p.detach().clone() for p in learner.mixer.parameters()]
    first = learner.train(batch)
    for _ in range(200):
        last = learner.train(batch)
    assert first["total_loss"] == pytest.approx(first["margin_loss"]) and first["td_loss"] > 0.0
    assert last["margin_loss"] < 0.1 * first["margin_loss"]
    assert all(torch.equal(a, b) for a, b in zip(mixer_before, learner.mixer.parameters()))


def test_a_config_that_learns_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="nothing would be learned"):
        LearnerConfig(td_loss_weight=0.0, demo_loss_weight=0.0)
