"""EnvRunner: K worker processes collect whole episodes, report env errors and always shut down;
training is reproducible from its seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces
from threadpoolctl import threadpool_info, threadpool_limits

from qmix_logistics.common.errors import QlogError
from qmix_logistics.marl import EnvRunner, MultiAgentController, RNNAgent, load_checkpoint, train
from qmix_logistics.marl.testing import TwoStepGame, make_two_step_game, two_step_config


class ExplodingGame(TwoStepGame):
    """Fails on its second step, like a buggy simulator would."""

    def step(self, actions):
        if self._stage != 0:
            raise ValueError("boom in the simulator")
        return super().step(actions)


class BoxActionGame(TwoStepGame):
    """Breaks the contract: continuous actions."""

    def action_space(self, agent):
        return spaces.Box(0.0, 1.0, shape=(1,))


class ShortObservationGame(TwoStepGame):
    """Breaks the contract: sends fewer observation floats than its space promises."""

    def _observations(self):
        full = super()._observations()
        return {agent: {**entry, "observation": entry["observation"][:3]} for agent, entry in full.items()}


def make_exploding_game(seed: int) -> ExplodingGame:
    return ExplodingGame()


def make_box_action_game(seed: int) -> BoxActionGame:
    return BoxActionGame()


def controller(*, interrupting: bool = False):
    """A small untrained controller; ``interrupting`` simulates Ctrl-C while the workers are mid-episode."""
    class InterruptingController(MultiAgentController):
        def select_actions(self, *args, **kwargs):
            raise KeyboardInterrupt

    torch.manual_seed(0)
    agent = RNNAgent(obs_dim=4, n_actions=2, n_agents=2, hidden_dim=8)
    return InterruptingController(agent) if interrupting else MultiAgentController(agent)


@pytest.mark.slow
def test_two_worker_processes_collect_whole_episodes_and_shut_down():
    runner = EnvRunner(make_two_step_game, n_envs=2, seed=0, workers=2)
    with runner:
        assert runner.spec.agents == ("agent_0", "agent_1") and runner.spec.state_dim == 4
        explored = runner.run_episodes(controller(), [5, 6, 7], epsilon=1.0, rng=np.random.default_rng(0))
        greedy = runner.run_episodes(controller(), [5, 6, 7], greedy=True)
    assert [ep.seed for ep in explored] == [5, 6, 7]
    for episode in explored:
        assert episode.length == 2 and episode.terminated
        assert episode.obs.shape == (3, 2, 4) and episode.avail.all()
        assert episode.rewards[0] == 0 and episode.episode_return in (0.0, 1.0, 7.0, 8.0)
    with EnvRunner(make_two_step_game, n_envs=1) as local:
        in_process = local.run_episodes(controller(), [5, 6, 7], greedy=True)
    for a, b in zip(greedy, in_process, strict=True):  # workers and the in-process env play identically
        assert np.array_equal(a.actions, b.actions) and np.array_equal(a.obs, b.obs)
    assert all(not proc.is_alive() and proc.exitcode == 0 for proc in runner._procs)


@pytest.mark.slow
def test_worker_errors_reach_the_caller_and_workers_still_stop():
    runner = EnvRunner(make_exploding_game, n_envs=2, workers=2)
    with pytest.raises(RuntimeError, match="boom in the simulator"):
        with runner:
            runner.run_episodes(controller(), [0, 1], greedy=True)
    assert all(not proc.is_alive() for proc in runner._procs)
    with pytest.raises(QlogError, match="must be Discrete"):
        EnvRunner(make_box_action_game, n_envs=2, workers=2)
    with pytest.raises(QlogError, match="observation of length 3") as info:
        EnvRunner(lambda seed: ShortObservationGame(), n_envs=1)
    assert info.value.source == "env ShortObservationGame"
    with pytest.raises(TypeError, match="must be picklable"):
        EnvRunner(lambda seed: TwoStepGame(), n_envs=2, workers=1)


@pytest.mark.slow
def test_keyboard_interrupt_mid_episode_closes_the_workers():
    runner = EnvRunner(make_two_step_game, n_envs=2, workers=2)
    with pytest.raises(KeyboardInterrupt):
        with runner:
            runner.run_episodes(controller(interrupting=True), [0, 1], greedy=True)
    assert all(not proc.is_alive() for proc in runner._procs)


def test_same_seed_gives_identical_weights_and_another_seed_does_not(tmp_path):
    def final_weights(name, seed):
        config = two_step_config(total_env_steps=200, seed=seed)
        result = train(make_two_step_game, config, tmp_path / name)
        return load_checkpoint(result.checkpoint_path)["learner"]

    first, second, other = final_weights("a", 3), final_weights("b", 3), final_weights("c", 4)
    for part in ("agent", "mixer", "target_agent", "target_mixer"):
        for key, tensor in first[part].items():
            assert torch.equal(tensor, second[part][key]), f"{part}.{key}"
    assert not torch.equal(first["agent"]["fc_out.weight"], other["agent"]["fc_out.weight"])


def _blas_threads() -> int:
    return max(pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas")


def test_training_keeps_numpy_blas_on_one_thread_and_gives_the_setting_back(tmp_path):
    with threadpool_limits(limits=2, user_api="blas"):  # what numpy takes on a 2-core machine
        seen: list[int] = []
        train(make_two_step_game, two_step_config(total_env_steps=40), tmp_path,
              on_progress=lambda progress: seen.append(_blas_threads()))
        assert seen and set(seen) == {1}
        assert _blas_threads() == 2


@pytest.mark.slow
def test_training_with_two_env_workers(tmp_path):
    config = two_step_config(total_env_steps=200, n_envs=2, env_workers=2)
    result = train(make_two_step_game, config, tmp_path)
    assert result.env_steps == 200 and result.episodes == 100 and result.updates > 0


@pytest.mark.slow
def test_the_layout_of_envs_over_processes_does_not_change_the_episodes():
    seeds, rng_seed = [3, 4, 5, 6, 7, 8, 9], 11
    played = {}
    for workers in (0, 1, 2, 4):
        with EnvRunner(make_two_step_game, n_envs=4, seed=1, workers=workers) as runner:
            assert runner.workers == workers and len(runner._procs) == workers
            played[workers] = runner.run_episodes(controller(), seeds, epsilon=0.5, rng=np.random.default_rng(rng_seed))
    for workers in (1, 2, 4):
        for a, b in zip(played[0], played[workers], strict=True):
            assert a.seed == b.seed and np.array_equal(a.actions, b.actions) and np.array_equal(a.obs, b.obs)


def test_cheap_envs_step_in_process_and_slow_ones_in_workers():
    from qmix_logistics.marl.runner import choose_workers

    assert choose_workers(8, 2e-5, cores=2) == 0  # a pipe round trip costs more than stepping here
    assert choose_workers(8, 2e-3, cores=2) == 2
    assert choose_workers(3, 5e-3, cores=16) == 3
    assert choose_workers(8, 2e-3, cores=1) == 0 and choose_workers(1, 1.0, cores=8) == 0
    with EnvRunner(make_two_step_game, n_envs=3) as runner:  # the two-step game is far too cheap for a pipe
        assert runner.workers == 0 and runner.step_seconds is not None and "3 envs in this process" in runner.describe()
        episodes = runner.run_episodes(controller(), [0, 1, 2, 3], greedy=True)
    assert [ep.length for ep in episodes] == [2, 2, 2, 2]


@pytest.mark.parametrize("rows", [1, 7, 8, 9, 50])
def test_growing_rows_give_back_every_row_in_order_across_blocks(monkeypatch, rows):
    from qmix_logistics.marl.runner import _GrowingRows

    monkeypatch.setattr(_GrowingRows, "BLOCK_BYTES", 8 * 3 * 4)  # 8 rows of 3 float32 per block
    rng = np.random.default_rng(rows)
    expected = rng.normal(size=(rows, 3)).astype(np.float32)
    growing = _GrowingRows()
    for row in expected:
        growing.append(row)
    assert len(growing.blocks) == -(-rows // 8)
    taken = growing.take()
    assert taken.dtype == np.float32 and taken.shape == (rows, 3)
    np.testing.assert_array_equal(taken, expected)
    assert growing.blocks == [] and growing.rows == 0


def test_a_half_precision_replay_holds_twice_the_steps_and_gives_float32_batches():
    from qmix_logistics.marl.buffer import MIB, EpisodeBuffer

    with EnvRunner(make_two_step_game, n_envs=1, dtype="float16") as runner:
        episodes = runner.run_episodes(controller(), [0, 1, 2], greedy=True)
    assert all(ep.obs.dtype == np.float16 and ep.state.dtype == np.float16 for ep in episodes)
    sizes = dict(n_agents=2, obs_dim=40, state_dim=30, n_actions=3)
    full = EpisodeBuffer(**sizes, memory_mb=1, max_steps=None)
    half = EpisodeBuffer(**sizes, memory_mb=1, max_steps=None, dtype="float16")
    assert half.bytes_per_step < 0.6 * full.bytes_per_step
    assert half.capacity_steps == MIB // half.bytes_per_step > 1.7 * full.capacity_steps
    assert "observations in float16" in half.describe()

    with EnvRunner(make_two_step_game, n_envs=1) as runner:
        played = runner.run_episodes(controller(), [4], greedy=True)[0]
    stored = EpisodeBuffer.holding([played], dtype="float16")
    batch = stored.sample(1, np.random.default_rng(0))
    assert batch.obs.dtype == torch.float32 and batch.state.dtype == torch.float32
    np.testing.assert_allclose(batch.obs[0].numpy(), played.obs, atol=1e-3)  # one-hot stages are exact


def test_an_episode_too_long_for_the_replay_names_half_precision():
    from qmix_logistics.marl.buffer import EpisodeBuffer

    with EnvRunner(make_two_step_game, n_envs=1) as runner:
        played = runner.run_episodes(controller(), [0], greedy=True)[0]
    tiny = EpisodeBuffer(2, played.obs.shape[2], played.state.shape[1], 3, memory_mb=1, max_steps=2)
    with pytest.raises(QlogError, match="replay_dtype: float16"):
        tiny.add(played)
