"""Discounting per elapsed time (semi-MDP): envs report step durations, the learner discounts by them."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from gymnasium import spaces
from pettingzoo import ParallelEnv

from qmix_logistics.common.errors import QlogError
from qmix_logistics.common.masks import uniform_valid_actions
from qmix_logistics.env.parallel_env import DispatchParallelEnv
from qmix_logistics.marl import (
    EnvAdapter,
    EnvRunner,
    Episode,
    EpisodeBuffer,
    LearnerConfig,
    MultiAgentController,
    RNNAgent,
    load_checkpoint,
    td_targets,
    train,
)
from qmix_logistics.marl.testing import make_two_step_game, two_step_config
from qmix_logistics.scenario import Scenario

#: FastOrSlow: minutes the first step lasts for each choice, and the payoff the second step pays for it.
FAST, SLOW = 0, 1
CHOICE_MIN = (1.0, 20.0)
PAYOFF = (1.0, 1.5)


class FastOrSlow(ParallelEnv):
    """One courier chooses a fast job (1 minute, pays 1.0) or a slow one (20 minutes, pays 1.5 more).

    Both pay one step later, so per step they are discounted alike and the slow job is worth more; per
    minute, 20 minutes of waiting cost more than the extra pay (0.9 ** 20 * 1.5 < 0.9 * 1.0). ``durations``
    False reports nothing (every step then lasts 1.0).
    """

    metadata: ClassVar[dict[str, Any]] = {"name": "fast_or_slow_v0", "render_modes": []}

    def __init__(self, durations: bool = True, skewed: bool = False) -> None:
        self.possible_agents = ["courier"]
        self.agents: list[str] = []
        self.durations, self.skewed = durations, skewed
        self._stage = 0  # 0 choose, 1 after fast, 2 after slow, 3 end
        self._obs_space = spaces.Dict({
            "observation": spaces.Box(0.0, 1.0, shape=(4,), dtype=np.float32),
            "action_mask": spaces.Box(0, 1, shape=(2,), dtype=np.int8),
        })
        self._act_space = spaces.Discrete(2)

    def observation_space(self, agent: str) -> spaces.Dict:
        return self._obs_space

    def action_space(self, agent: str) -> spaces.Discrete:
        return self._act_space

    def state(self) -> np.ndarray:
        return np.eye(4, dtype=np.float32)[self._stage]

    def _observations(self) -> dict[str, dict[str, np.ndarray]]:
        mask = np.array([1, 1] if self._stage == 0 else [1, 0], dtype=np.int8)
        return {"courier": {"observation": self.state(), "action_mask": mask}}

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        self.agents, self._stage = list(self.possible_agents), 0
        return self._observations(), {"courier": {}}

    def step(self, actions: dict[str, int]) -> tuple[dict, dict, dict, dict, dict]:
        if self._stage == 0:
            choice = int(actions["courier"])
            self._stage, reward, minutes, done = 1 + choice, 0.0, CHOICE_MIN[choice], False
        else:
            reward, minutes, done = PAYOFF[self._stage - 1], 1.0, True
            self._stage = 3
        info: dict[str, Any] = {"duration": minutes} if self.durations else {}
        if self.skewed:
            info = {"duration": -1.0}
        observations = self._observations()
        if done:
            self.agents = []
        return observations, {"courier": reward}, {"courier": done}, {"courier": False}, {"courier": info}


def make_fast_or_slow(seed: int = 0) -> FastOrSlow:
    return FastOrSlow()


def make_silent_fast_or_slow(seed: int = 0) -> FastOrSlow:
    return FastOrSlow(durations=False)


def test_per_step_discounts_give_the_hand_computed_targets():
    rewards = torch.tensor([[[1.0], [2.0], [3.0]]])
    next_values = torch.tensor([[[10.0], [20.0], [30.0]]])
    discounts = torch.tensor([[[0.5], [0.25], [0.8]]])
    mask, running = torch.ones_like(rewards), torch.zeros_like(rewards)
    one_step = td_targets(rewards, running, next_values, mask, discounts, None)
    assert one_step.flatten().tolist() == pytest.approx([1 + 0.5 * 10, 2 + 0.25 * 20, 3 + 0.8 * 30])
    # G_2 = 27 (window end); G_1 = 2 + 0.25 (0.5 * 20 + 0.5 * 27); G_0 = 1 + 0.5 (0.5 * 10 + 0.5 * G_1)
    lam = td_targets(rewards, running, next_values, mask, discounts, 0.5)
    g1 = 2 + 0.25 * (0.5 * 20 + 0.5 * 27)
    assert lam.flatten().tolist() == pytest.approx([1 + 0.5 * (0.5 * 10 + 0.5 * g1), g1, 27.0])
    terminated = torch.tensor([[[0.0], [0.0], [1.0]]])  # no discount applies after the end
    assert td_targets(rewards, terminated, next_values, mask, discounts, 0.5)[0, 2, 0] == 3.0


@pytest.mark.parametrize("td_lambda", [None, 0.7])
def test_a_constant_discount_tensor_equals_the_scalar_bit_for_bit(td_lambda):
    generator = torch.Generator().manual_seed(0)
    rewards, next_values = torch.randn(4, 6, 1, generator=generator), torch.randn(4, 6, 3, generator=generator)
    terminated = (torch.rand(4, 6, 1, generator=generator) < 0.2).float()
    mask = torch.ones(4, 6, 1)
    mask[0, 4:] = 0.0
    durations = torch.ones(4, 6)
    per_step = (0.97 ** (durations / 1.0)).unsqueeze(-1)
    assert torch.equal(td_targets(rewards, terminated, next_values, mask, per_step, td_lambda),
                       td_targets(rewards, terminated, next_values, mask, 0.97, td_lambda))


def test_the_adapter_reads_durations_and_defaults_to_one():
    adapter = EnvAdapter(FastOrSlow())
    adapter.reset(0)
    assert adapter.step(np.array([SLOW])).duration == 20.0
    assert adapter.step(np.array([0])).duration == 1.0
    silent = EnvAdapter(FastOrSlow(durations=False))
    silent.reset(0)
    assert silent.step(np.array([SLOW])).duration == 1.0
    broken = EnvAdapter(FastOrSlow(skewed=True))
    broken.reset(0)
    with pytest.raises(QlogError, match="finite number >= 0"):
        broken.step(np.array([FAST]))


def test_episodes_and_batches_carry_durations():
    agent = RNNAgent(4, 2, 1, 8)
    with EnvRunner(make_fast_or_slow) as runner:
        episodes = runner.run_episodes(MultiAgentController(agent), [0, 1, 2, 3], epsilon=1.0,
                                       rng=np.random.default_rng(0))
    for episode in episodes:
        assert episode.durations.dtype == np.float32
        assert episode.durations.tolist() == [CHOICE_MIN[int(episode.actions[0, 0])], 1.0]
    kept = EpisodeBuffer(1, 4, 4, 2, memory_mb=0.01, keep_durations=True)
    plain = EpisodeBuffer(1, 4, 4, 2, memory_mb=0.01)
    assert kept.bytes_per_step == plain.bytes_per_step + 4
    for episode in episodes:
        kept.add(episode)
        plain.add(episode)
    batch = kept.sample(8, np.random.default_rng(0))
    assert batch.durations.shape == (8, 2)
    assert set(batch.durations[:, 1].tolist()) == {1.0} and set(batch.durations[:, 0].tolist()) <= {1.0, 20.0}
    assert torch.equal(plain.sample(8, np.random.default_rng(0)).durations, torch.ones(8, 2))
    restored = EpisodeBuffer(1, 4, 4, 2, memory_mb=0.01, keep_durations=True)
    restored.load_state_dict(kept.state_dict())
    assert np.array_equal(restored.durations, kept.durations)


def test_a_buffer_that_keeps_durations_refuses_episodes_without_them():
    episode = Episode(obs=np.zeros((3, 1, 4), np.float32), state=np.zeros((3, 4), np.float32),
                      avail=np.ones((3, 1, 2), bool), actions=np.zeros((2, 1), np.int64),
                      rewards=np.zeros(2, np.float32), terminated=True, seed=7)
    with pytest.raises(QlogError, match="seed 7") as info:
        EpisodeBuffer.holding([episode], keep_durations=True)
    assert info.value.field == "training.discount_per"


def _fast_or_slow_config(**overrides: Any) -> LearnerConfig:
    return two_step_config(mixer="vdn", gamma=0.9, total_env_steps=500, learning_starts=40, seed=0, **overrides)


@pytest.mark.parametrize(
    ("overrides", "best_return"),
    [
        ({}, PAYOFF[SLOW]),  # per step the slow job's extra pay wins
        ({"discount_per": "time"}, PAYOFF[FAST]),  # per minute the 20 minutes' wait costs more than it pays
        ({"discount_per": "time", "gamma_time_unit": 20.0}, PAYOFF[SLOW]),  # gamma per 20 minutes: slow again
    ],
)
def test_discounting_per_minute_makes_the_greedy_courier_take_the_fast_job(tmp_path, overrides, best_return):
    result = train(make_fast_or_slow, _fast_or_slow_config(**overrides), tmp_path)
    assert result.updates > 100
    assert result.last_eval["return"] == pytest.approx(best_return)


@pytest.mark.parametrize(("make_env", "td_lambda"), [(make_two_step_game, None), (make_silent_fast_or_slow, 0.8)])
def test_without_durations_time_discounting_trains_exactly_like_step_discounting(tmp_path, make_env, td_lambda):
    learned = []
    for discount_per in ("step", "time"):
        config = two_step_config(mixer="qmix", seed=3, total_env_steps=200, td_lambda=td_lambda,
                                 discount_per=discount_per, gamma_time_unit=1.0)
        result = train(make_env, config, tmp_path / discount_per)
        data = load_checkpoint(result.checkpoint_path)
        assert data["config"]["discount_per"] == discount_per and data["config"]["gamma_time_unit"] == 1.0
        learned.append((result.updates, data["learner"]))
    (updates_step, step), (updates_time, time) = learned
    assert updates_step == updates_time > 50
    for part in ("agent", "mixer", "target_agent", "target_mixer"):
        for name, tensor in step[part].items():
            assert torch.equal(tensor, time[part][name]), f"{part}.{name}"


def test_dispatch_steps_report_the_simulated_minutes_they_covered(small_scenario: Scenario):
    env = DispatchParallelEnv(small_scenario)
    observations, _ = env.reset(seed=2)
    rng, started, total, done = np.random.default_rng(0), env.core.world.now, 0.0, False
    durations = []
    while not done:
        masks = np.stack([observations[a]["action_mask"] for a in env.possible_agents])
        actions = uniform_valid_actions(masks.astype(bool), rng)
        before = env.core.world.now
        observations, _, terminations, _, infos = env.step(dict(zip(env.possible_agents, actions.tolist())))
        reported = {infos[a]["duration"] for a in env.possible_agents}
        assert reported == {infos["vehicle_0"]["time_min"] - before}
        durations.append(reported.pop())
        total += durations[-1]
        done = all(terminations.values())
    assert min(durations) >= 0.0 and max(durations) > min(durations)  # events of unequal length
    assert total == pytest.approx(env.core.world.now - started)
