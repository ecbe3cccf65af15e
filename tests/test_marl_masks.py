"""Action masks: exploration and greedy choice never pick a masked action, and targets ignore masked Q's."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from qmix_logistics.common.errors import QlogError
from qmix_logistics.marl import (
    DecentralizedPolicy,
    EnvSpec,
    Episode,
    EpisodeBuffer,
    LearnerConfig,
    MultiAgentController,
    QLearner,
    RNNAgent,
    epsilon_greedy,
)

HUGE = 1e6


def random_masks(rng, shape):
    masks = rng.random(shape) < 0.4
    masks[..., rng.integers(shape[-1])] = True  # at least one valid action everywhere
    return masks


@pytest.mark.parametrize("epsilon", [0.0, 0.5, 1.0])
def test_epsilon_greedy_never_picks_a_masked_action(epsilon):
    rng = np.random.default_rng(0)
    for _ in range(50):
        q = rng.normal(size=(16, 4, 7))
        masks = random_masks(rng, q.shape)
        q[~masks] = HUGE  # the most tempting actions are the forbidden ones
        actions = epsilon_greedy(q, masks, epsilon, rng)
        assert np.take_along_axis(masks, actions[..., None], axis=-1).all()


def test_random_actions_are_uniform_over_valid_ones():
    rng = np.random.default_rng(1)
    mask = np.array([True, False, True, True, False])
    actions = epsilon_greedy(np.zeros((30_000, 5)), np.tile(mask, (30_000, 1)), 1.0, rng)
    counts = np.bincount(actions, minlength=5) / 30_000
    assert counts[1] == 0 and counts[4] == 0
    assert np.allclose(counts[mask], 1 / 3, atol=0.02)


def test_greedy_picks_the_best_valid_action():
    q = np.array([[5.0, HUGE, 7.0, HUGE]])
    mask = np.array([[True, False, True, False]])
    assert epsilon_greedy(q, mask, 0.0, np.random.default_rng(0)).tolist() == [2]


def agent_preferring(action: int, n_actions: int = 3, n_agents: int = 2, obs_dim: int = 3) -> RNNAgent:
    """An agent whose Q is HUGE for ``action`` and 0 elsewhere, whatever it sees."""
    agent = RNNAgent(obs_dim, n_actions, n_agents, hidden_dim=8)
    with torch.no_grad():
        agent.fc_out.weight.zero_()
        agent.fc_out.bias.zero_()
        agent.fc_out.bias[action] = HUGE
    return agent


@pytest.mark.parametrize("greedy,epsilon", [(True, 0.0), (False, 0.0), (False, 1.0)])
def test_batched_controller_respects_masks(greedy, epsilon):
    controller = MultiAgentController(agent_preferring(1))
    rng = np.random.default_rng(2)
    obs = rng.normal(size=(5, 2, 3)).astype(np.float32)
    masks = np.ones((5, 2, 3), dtype=bool)
    masks[..., 1] = False
    hidden = controller.init_hidden(5)
    actions, new_hidden = controller.select_actions(
        obs, masks, np.full((5, 2), -1), hidden, epsilon=epsilon, rng=rng, greedy=greedy
    )
    assert actions.shape == (5, 2) and (actions != 1).all()
    assert new_hidden.shape == hidden.shape


def test_execution_policy_respects_the_mask_and_rejects_an_empty_one():
    policy = DecentralizedPolicy(agent_preferring(1))
    action, q_values, hidden = policy.act([0.1, 0.2, 0.3], [1, 0, 1], agent_index=1)
    assert action != 1 and q_values[1] == pytest.approx(HUGE)
    assert hidden.shape == (8,)
    with pytest.raises(QlogError, match="no action"):
        policy.act([0.1, 0.2, 0.3], [0, 0, 0], agent_index=0, hidden=hidden)
    with pytest.raises(QlogError):
        policy.act([0.1, 0.2], [1, 1, 1], agent_index=0)


def masked_next_step_batch(device="cpu"):
    """Two steps; at the second, action 1 is masked for both agents; the final mask is all zeros."""
    avail = np.ones((3, 2, 3), dtype=bool)
    avail[1, :, 1] = False
    avail[2] = False
    episode = Episode(
        obs=np.random.default_rng(3).normal(size=(3, 2, 3)).astype(np.float32),
        state=np.eye(3, dtype=np.float32),
        avail=avail,
        actions=np.array([[0, 2], [2, 0]]),
        rewards=np.array([1.0, 2.0], dtype=np.float32),
        terminated=True,
        seed=0,
    )
    buffer = EpisodeBuffer(2, 3, 3, 3, memory_mb=0.01)
    buffer.add(episode)
    return buffer.sample(4, np.random.default_rng(0))


@pytest.mark.parametrize("mixer", ["iql", "vdn"])
@pytest.mark.parametrize("double_q", [True, False])
def test_targets_ignore_a_masked_action_with_huge_q(mixer, double_q):
    spec = EnvSpec(("a", "b"), obs_dim=3, state_dim=3, n_actions=3)
    learner = QLearner(spec, LearnerConfig(mixer=mixer, double_q=double_q, gamma=0.9, agent_hidden_dim=8,
                                           td_lambda=None, standardise_rewards=False))
    tempting = agent_preferring(1).state_dict()
    learner.agent.load_state_dict(tempting)
    learner.target_agent.load_state_dict(tempting)
    stats = learner.train(masked_next_step_batch())
    # Valid next actions are worth 0, so the targets are the rewards 1 and 2 alone.
    assert stats["target_mean"] == pytest.approx(1.5, abs=1e-4)
    assert math.isfinite(stats["td_loss"])


def test_guided_exploration_follows_valid_suggestions_only() -> None:
    from qmix_logistics.marl.controller import epsilon_greedy

    rng = np.random.default_rng(0)
    q = np.zeros((200, 4))
    avail = np.ones((200, 4), dtype=bool)
    avail[:, 3] = False
    expert = np.full(200, 2)
    expert[::2] = -1  # no suggestion for half the agents: they explore uniformly
    actions = epsilon_greedy(q, avail, 1.0, rng, expert, expert_share=1.0)
    assert (actions[1::2] == 2).all()
    assert set(actions[::2]) <= {0, 1, 2} and len(set(actions[::2])) > 1
    greedy = epsilon_greedy(q + np.arange(4), avail, 0.0, rng, expert, expert_share=1.0)
    assert (greedy == 2).all()  # epsilon 0: suggestions are ignored, the greedy valid action wins
