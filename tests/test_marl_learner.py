"""Learner building blocks: TD(lambda) targets, replay windows and config validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qmix_logistics.common.errors import QlogError
from qmix_logistics.marl import Episode, EpisodeBuffer, LearnerConfig, td_targets

N_AGENTS, OBS_DIM, N_ACTIONS = 2, 3, 4


def labelled_episode(episode_id: int, length: int) -> Episode:
    """obs[t, i] = (episode_id, t, i): lets a test check which step each window slot shows."""
    steps = np.arange(length + 1, dtype=np.float32)
    obs = np.zeros((length + 1, N_AGENTS, OBS_DIM), dtype=np.float32)
    obs[..., 0] = episode_id
    obs[..., 1] = steps[:, None]
    obs[..., 2] = np.arange(N_AGENTS)
    return Episode(
        obs=obs,
        state=np.stack([np.full(length + 1, episode_id), steps], axis=1).astype(np.float32),
        avail=np.ones((length + 1, N_AGENTS, N_ACTIONS), dtype=bool),
        actions=np.tile((np.arange(length) % N_ACTIONS)[:, None], (1, N_AGENTS)),
        rewards=steps[:-1] + 0.5,
        terminated=True,
        seed=episode_id,
    )


def test_lambda_zero_is_one_step_and_lambda_one_is_the_monte_carlo_return():
    rewards = torch.tensor([[[1.0], [2.0], [3.0]]])
    terminated = torch.tensor([[[0.0], [0.0], [1.0]]])
    next_values = torch.tensor([[[10.0], [20.0], [99.0]]])
    mask = torch.ones_like(rewards)
    one_step = td_targets(rewards, terminated, next_values, mask, 0.5, None)
    assert torch.allclose(td_targets(rewards, terminated, next_values, mask, 0.5, 0.0), one_step)
    monte_carlo = td_targets(rewards, terminated, next_values, mask, 0.5, 1.0)
    assert torch.allclose(monte_carlo.flatten(), torch.tensor([1 + 0.5 * 2 + 0.25 * 3, 2 + 0.5 * 3, 3.0]))


def test_lambda_return_bootstraps_where_the_window_is_padded():
    rewards = torch.tensor([[[1.0], [0.0]]])
    next_values = torch.tensor([[[10.0], [50.0]]])
    mask = torch.tensor([[[1.0], [0.0]]])
    targets = td_targets(rewards, torch.zeros_like(rewards), next_values, mask, 0.9, 0.8)
    assert targets[0, 0, 0].item() == pytest.approx(1 + 0.9 * 10)


def test_lambda_return_of_independent_learners_is_per_agent():
    # IQL: one team reward, one value per agent; each agent's lambda-return is its own column
    rewards = torch.tensor([[[1.0], [2.0], [3.0]]])
    terminated = torch.tensor([[[0.0], [0.0], [1.0]]])
    next_values = torch.tensor([[[10.0, -4.0], [20.0, 6.0], [99.0, 7.0]]])
    mask = torch.ones_like(rewards)
    for lam in (None, 0.0, 0.5, 1.0):
        both = td_targets(rewards, terminated, next_values, mask, 0.9, lam)
        assert both.shape == (1, 3, 2)
        for agent in range(2):
            alone = td_targets(rewards, terminated, next_values[..., agent : agent + 1], mask, 0.9, lam)
            assert torch.allclose(both[..., agent : agent + 1], alone)


def test_buffer_capacity_follows_the_memory_budget_and_evicts_oldest_first():
    buffer = EpisodeBuffer(N_AGENTS, OBS_DIM, 2, N_ACTIONS, memory_mb=0.002)
    assert buffer.capacity_steps == int(0.002 * 2**20) // buffer.bytes_per_step
    assert f"{buffer.capacity_steps:,} env steps" in buffer.describe()
    for episode_id in range(40):
        buffer.add(labelled_episode(episode_id, length=5 + episode_id % 7))
    stored_ids = {int(buffer.obs[start, 0, 0]) for start, _ in buffer._episodes}
    assert stored_ids == set(range(40 - len(buffer), 40))
    assert buffer.num_steps + len(buffer) <= buffer.capacity_steps
    with pytest.raises(QlogError, match="does not fit") as info:
        buffer.add(labelled_episode(99, length=buffer.capacity_steps))
    assert info.value.field == "training.buffer_mb"


def test_windows_show_the_right_steps_with_burn_in_and_padding():
    buffer = EpisodeBuffer(N_AGENTS, OBS_DIM, 2, N_ACTIONS, memory_mb=1)
    for episode_id, length in enumerate([3, 17, 40]):
        buffer.add(labelled_episode(episode_id, length))
    batch = buffer.sample(256, np.random.default_rng(0), chunk_len=8, burn_in=4)
    assert batch.obs.shape == (256, 4 + 8 + 1, N_AGENTS, OBS_DIM) and batch.actions.shape == (256, 8, N_AGENTS)
    for b in range(256):
        trained = batch.mask[b].bool()
        steps = batch.obs[b, 4:12, 0, 1][trained]
        assert (steps == steps[0] + torch.arange(len(steps))).all()  # consecutive steps from the window start
        assert (batch.actions[b][trained][:, 0] == steps.long() % N_ACTIONS).all()
        assert torch.allclose(batch.rewards[b][trained], steps + 0.5)
        first = batch.first[b].nonzero().flatten()
        if len(first):  # the episode starts inside the window: its step 0 sits there, with no last action
            assert batch.obs[b, first[0], 0, 1] == 0 and (batch.last_actions[b, first[0]] == -1).all()
        later = batch.obs[b, 1:, 0, 1] > 0
        assert (batch.last_actions[b, 1:, 0][later] == (batch.obs[b, 1:, 0, 1][later].long() - 1) % N_ACTIONS).all()


def test_every_stored_transition_is_trained_equally_often():
    buffer = EpisodeBuffer(N_AGENTS, OBS_DIM, 2, N_ACTIONS, memory_mb=1)
    buffer.add(labelled_episode(0, length=10))
    counts = np.zeros(10)
    rng = np.random.default_rng(1)
    for _ in range(200):
        batch = buffer.sample(64, rng, chunk_len=4, burn_in=2)
        steps = batch.obs[:, 2:6, 0, 1][batch.mask.bool()].long().numpy()
        np.add.at(counts, steps, 1)
    assert counts.min() / counts.max() > 0.9


def test_whole_episodes_are_padded_to_the_longest_drawn():
    buffer = EpisodeBuffer(N_AGENTS, OBS_DIM, 2, N_ACTIONS, memory_mb=1)
    buffer.add(labelled_episode(0, 3))
    buffer.add(labelled_episode(1, 6))
    batch = buffer.sample(32, np.random.default_rng(0))
    assert batch.burn_in == 0 and batch.mask.shape == (32, 6)
    assert sorted(set(batch.mask.sum(1).tolist())) == [3.0, 6.0]
    assert batch.first[:, 0].all() and batch.avail.all()


def test_config_rejects_unknown_keys_and_bad_values_naming_the_field():
    with pytest.raises(QlogError) as info:
        LearnerConfig.from_dict({"lr": 1e-3, "learning_rate": 1e-3}, source="run.yaml")
    assert info.value.field == "training.learning_rate" and info.value.source == "run.yaml"
    with pytest.raises(QlogError) as info:
        LearnerConfig.from_dict({"lr": -1})
    assert info.value.field == "training.lr"
    with pytest.raises(QlogError) as info:
        LearnerConfig.from_dict({"mixer": "qatten"})
    assert info.value.field == "training.mixer"
    with pytest.raises(QlogError, match="epsilon_end"):
        LearnerConfig.from_dict({"epsilon_start": 0.1, "epsilon_end": 0.5})


def test_cli_overrides_are_parsed_and_validated():
    config = LearnerConfig().with_overrides(["lr=1e-3", "training.td_lambda=0.8", "chunk_len=none", "double_q=false"])
    assert (config.lr, config.td_lambda, config.chunk_len, config.double_q) == (1e-3, 0.8, None, False)
    assert LearnerConfig().with_overrides({"batch_size": "8"}).batch_size == 8
    with pytest.raises(QlogError) as info:
        LearnerConfig().with_overrides(["gamma=2"])
    assert info.value.field == "training.gamma"
    with pytest.raises(QlogError):
        LearnerConfig().with_overrides(["gamma"])


def test_schedules_and_windows():
    config = LearnerConfig(epsilon_start=1.0, epsilon_end=0.1, epsilon_anneal_steps=100)
    assert [config.epsilon_at(s) for s in (0, 50, 100, 1000)] == pytest.approx([1.0, 0.55, 0.1, 0.1])
    assert config.window(50) == (None, 0)
    assert config.window(1500) == (64, 16)
    assert LearnerConfig(chunk_len=32, burn_in=8).window(10) == (32, 8)


def stepwise_lambda_returns(rewards, terminated, next_values, mask, gamma, td_lambda):
    """The lambda-return by its backward recursion, one step at a time: the reference for td_targets."""
    targets = torch.zeros(torch.broadcast_shapes(rewards.shape, next_values.shape))
    following = torch.zeros_like(targets[:, 0])
    for t in reversed(range(rewards.shape[1])):
        has_next = mask[:, t + 1] if t + 1 < rewards.shape[1] else torch.zeros_like(mask[:, t])
        bootstrap = (1.0 - td_lambda * has_next) * next_values[:, t] + td_lambda * has_next * following
        step_gamma = gamma[:, t] if isinstance(gamma, torch.Tensor) else gamma
        following = rewards[:, t] + step_gamma * (1.0 - terminated[:, t]) * bootstrap
        targets[:, t] = following
    return targets


@pytest.mark.parametrize("n_values", [1, 3])
def test_lambda_returns_solved_at_once_equal_the_backward_recursion(n_values):
    generator = torch.Generator().manual_seed(0)
    rewards = torch.randn(6, 40, 1, generator=generator)
    next_values = torch.randn(6, 40, n_values, generator=generator)
    terminated = (torch.rand(6, 40, 1, generator=generator) < 0.05).float()
    mask = torch.ones(6, 40, 1)
    mask[1, 25:], mask[4, 3:] = 0.0, 0.0  # windows that end early
    per_step_gamma = 0.95 ** torch.rand(6, 40, 1, generator=generator)  # per elapsed time
    for gamma in (0.97, per_step_gamma):
        for lam in (0.0, 0.6, 1.0):
            solved = td_targets(rewards, terminated, next_values, mask, gamma, lam)
            assert torch.allclose(solved, stepwise_lambda_returns(rewards, terminated, next_values, mask, gamma, lam),
                                  atol=1e-5)


def test_burn_in_warms_each_window_from_its_own_episode_start():
    from qmix_logistics.marl import EnvSpec, QLearner

    buffer = EpisodeBuffer(N_AGENTS, OBS_DIM, 2, N_ACTIONS, memory_mb=1)
    for episode_id, length in enumerate([3, 17, 40]):
        buffer.add(labelled_episode(episode_id, length))
    batch = buffer.sample(64, np.random.default_rng(1), chunk_len=8, burn_in=6)
    assert not bool(batch.first[:, 1:6].any(dim=1).all()) and bool(batch.first[:, 1:6].any())  # both kinds
    spec = EnvSpec(("a", "b"), OBS_DIM, 2, N_ACTIONS)
    learner = QLearner(spec, LearnerConfig(agent_hidden_dim=8))
    agent, u = learner.agent, batch.burn_in
    q = learner._unroll(agent, batch, grad=False)
    # reference: step through the burn-in one slot at a time, zeroing the state at each episode start
    b, slots, n = batch.obs.shape[:3]
    obs = batch.obs.transpose(1, 2).reshape(b * n, slots, -1)
    last = batch.last_actions.transpose(1, 2).reshape(b * n, slots)
    keep = (~batch.first).float().repeat_interleave(n, dim=0)
    ids, hidden = torch.arange(n).repeat(b), agent.init_hidden(b * n)
    with torch.no_grad():
        for t in range(u):
            _, hidden = agent(obs[:, t : t + 1], last[:, t : t + 1], ids, hidden * keep[:, t : t + 1])
        want, _ = agent(obs[:, u:], last[:, u:], ids, hidden * keep[:, u : u + 1])
    assert torch.allclose(q, want.view(b, n, slots - u, -1).transpose(1, 2), atol=1e-5)
