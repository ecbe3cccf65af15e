"""QPLEX, weighted QMIX and QTRAN: the properties each paper relies on, and their checkpoints.

QPLEX's advantage weights are positive and its joint argmax is the agents' own greedy actions (IGM);
weighted QMIX's loss weights are alpha or 1 under the stated conditions; QTRAN's penalties vanish exactly
where its factorisation conditions hold, and training drives them there. Every new mixer saves its extra
networks, resumes bit for bit and executes from the agent network alone.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from qmix_logistics.marl import (
    EnvSpec,
    Episode,
    EpisodeBuffer,
    LearnerConfig,
    QLearner,
    load_checkpoint,
    load_policy,
    train,
)
from qmix_logistics.marl.joint_view import JointView
from qmix_logistics.marl.qplex import QPLEXMixer
from qmix_logistics.marl.qtran import qtran_losses
from qmix_logistics.marl.testing import (
    PAYOFF_NON_MONOTONIC,
    make_matrix_game,
    matrix_game_config,
)
from qmix_logistics.marl.weighted_qmix import (
    centrally_weighted,
    optimistically_weighted,
)
from tests.test_marl_checkpoint import assert_same

NEW_MIXERS = ["qplex", "cw_qmix", "ow_qmix", "qtran"]


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Small nets train fastest on one thread (``train`` sets this itself; direct learner use does not)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
MATRIX_SPEC = EnvSpec(("agent_0", "agent_1"), obs_dim=2, state_dim=2, n_actions=3)


def matrix_episode(a0: int, a1: int) -> Episode:
    """One play of the matrix game with the joint action (a0, a1), as the runner would record it."""
    stages = np.eye(2, dtype=np.float32)
    return Episode(
        obs=np.repeat(stages[:, None, :], 2, axis=1),
        state=stages,
        avail=np.ones((2, 2, 3), dtype=bool),
        actions=np.array([[a0, a1]]),
        rewards=np.array([PAYOFF_NON_MONOTONIC[a0, a1]], dtype=np.float32),
        terminated=True,
        seed=0,
    )


def every_joint_action_buffer() -> EpisodeBuffer:
    """A replay buffer holding each of the 9 joint actions once (uniform data, as with epsilon 1)."""
    buffer = EpisodeBuffer(2, 2, 2, 3, memory_mb=1)
    for a0, a1 in itertools.product(range(3), repeat=2):
        buffer.add(matrix_episode(a0, a1))
    return buffer


def trained_learner(mixer: str, updates: int, seed: int = 0, **overrides) -> tuple[QLearner, EpisodeBuffer]:
    torch.manual_seed(seed)
    learner = QLearner(MATRIX_SPEC, matrix_game_config(mixer=mixer, seed=seed, **overrides))
    buffer, rng = every_joint_action_buffer(), np.random.default_rng(seed)
    for _ in range(updates):
        learner.train(buffer.sample(32, rng))
    return learner, buffer


def start_utilities(agent) -> torch.Tensor:
    """Each agent's Q-values [N, A] at the matrix game's only decision."""
    with torch.no_grad():
        start = torch.tensor([1.0, 0.0]).expand(2, 1, 2)
        q, _ = agent(start, torch.full((2, 1), -1), torch.arange(2), agent.init_hidden(2))
    return q.squeeze(1)


def is_alpha_or_one(weights: torch.Tensor, alpha: float) -> bool:
    return bool(((weights == 1.0) | (weights == torch.tensor(alpha, dtype=weights.dtype))).all())


def view_of(learner: QLearner, batch) -> JointView:
    """The view the learner gives its objective for ``batch`` (no gradient needed here)."""
    with torch.no_grad():
        q = learner._unroll(learner.agent, batch, grad=False)
        target_q = learner._unroll(learner.target_agent, batch, grad=False)
    return JointView(q=q, target_q=target_q, batch=batch, double_q=True, unroll=learner._unroll)


# --- QPLEX ---


@settings(max_examples=25, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), n_agents=st.integers(1, 5), n_actions=st.integers(2, 5),
       state_dim=st.integers(1, 6), scale=st.floats(0.1, 100.0))
def test_qplex_advantage_weights_and_transformation_weights_are_positive(seed, n_agents, n_actions, state_dim,
                                                                           scale):
    torch.manual_seed(seed)
    mixer = QPLEXMixer(n_agents, n_actions, state_dim, hidden_dim=8, n_heads=3)
    for param in mixer.parameters():  # arbitrary (not just freshly initialised) weights
        param.data.normal_(0.0, 1.0)
    states = torch.randn(40, state_dim) * scale
    actions = torch.randint(n_actions, (40, n_agents))
    joint = torch.nn.functional.one_hot(actions, n_actions).float().flatten(1)
    assert (mixer.lambdas(states, joint) > 0).all()
    weights, _ = mixer.transformation(states)
    assert (weights > 0).all()


@settings(max_examples=25, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), n_agents=st.integers(1, 3), n_actions=st.integers(2, 4),
       stop_gradient=st.booleans())
def test_qplex_joint_argmax_is_every_agents_own_greedy_action(seed, n_agents, n_actions, stop_gradient):
    """IGM: over every joint action, Q_tot is largest at the tuple of per-agent argmaxes."""
    torch.manual_seed(seed)
    mixer = QPLEXMixer(n_agents, n_actions, state_dim=3, hidden_dim=8, n_heads=2, stop_gradient=stop_gradient)
    for param in mixer.parameters():
        param.data.normal_(0.0, 1.0)
    utilities = torch.randn(n_agents, n_actions) * 5.0
    state = torch.randn(3)
    joint_actions = torch.tensor(list(itertools.product(range(n_actions), repeat=n_agents)))
    chosen = utilities.gather(1, joint_actions.T).T  # [J, N]
    values = utilities.max(dim=1).values.expand_as(chosen)
    one_hot = torch.nn.functional.one_hot(joint_actions, n_actions).float().flatten(1)
    q_tot = mixer(chosen, values, one_hot, state.expand(len(joint_actions), 3))
    best = joint_actions[q_tot.argmax()]
    assert torch.equal(best, utilities.argmax(dim=1))


# --- weighted QMIX ---


def test_weighting_functions_give_alpha_or_one_where_the_papers_say():
    torch.manual_seed(0)
    targets, q_tot, q_star = torch.randn(50, 1), torch.randn(50, 1), torch.randn(50, 1)
    greedy = torch.rand(50, 1) < 0.3
    cw = centrally_weighted(greedy, targets, q_star, 0.1)
    assert torch.equal(cw == 1.0, greedy | (targets > q_star)) and is_alpha_or_one(cw, 0.1)
    ow = optimistically_weighted(q_tot, targets, 0.25)
    assert torch.equal(ow == 1.0, q_tot < targets) and is_alpha_or_one(ow, 0.25)
    assert (cw == 0.1).any() and (ow == 0.25).any()


@pytest.mark.parametrize("mixer", ["cw_qmix", "ow_qmix"])
def test_weighted_qmix_weights_on_a_trained_learner(mixer):
    alpha = 0.3
    learner, buffer = trained_learner(mixer, updates=60, wqmix_alpha=alpha)
    batch = buffer.sample(64, np.random.default_rng(5))
    view = view_of(learner, batch)
    targets = batch.rewards.unsqueeze(-1)  # one-step game: the target is the payoff
    with torch.no_grad():
        q_tot = learner.objective.online["mixer"](view.chosen, view.states[:, :-1]).unsqueeze(-1)
    weights = learner.objective.loss_weights(view, q_tot, targets)
    assert is_alpha_or_one(weights, alpha)
    if mixer == "cw_qmix":
        is_greedy = (batch.actions == view.greedy[:, :-1]).all(dim=-1, keepdim=True)
        assert (weights[is_greedy] == 1.0).all()
        assert (weights == alpha).any()  # the game's poor joint actions are down-weighted
    else:
        assert torch.equal(weights == 1.0, q_tot < targets)
    stats = learner.train(batch)
    assert alpha <= stats["weight_mean"] <= 1.0 and stats["central_loss"] >= 0.0


# --- QTRAN ---


def test_qtran_penalties_vanish_exactly_where_the_conditions_hold():
    mask = torch.ones(4, 1, 1)
    q_jt_greedy = torch.tensor([[[3.0]], [[-1.0]], [[0.5]], [[8.0]]])
    value = torch.tensor([[[1.0]], [[2.0]], [[-0.5]], [[0.0]]])
    optimum = (q_jt_greedy - value).requires_grad_(True)  # sum Q_i(greedy) that meets L_opt exactly
    l_opt, l_nopt = qtran_losses(optimum, q_jt_greedy, optimum + 1.0, q_jt_greedy, value, mask)
    assert l_opt.item() == 0.0 and l_nopt.item() == 0.0
    (grad,) = torch.autograd.grad(l_opt, optimum)
    assert (grad == 0).all()
    l_opt, l_nopt = qtran_losses(optimum + 0.5, q_jt_greedy, optimum - 2.0, q_jt_greedy, value, mask)
    assert l_opt.item() == pytest.approx(0.25) and l_nopt.item() == pytest.approx(4.0)


def test_qtran_training_meets_its_factorisation_conditions_on_the_matrix_game():
    learner, _ = trained_learner("qtran", updates=400)
    state = torch.tensor([1.0, 0.0])
    utilities = start_utilities(learner.agent)
    with torch.no_grad():
        greedy = tuple(utilities.argmax(dim=1).tolist())
        value = learner.objective.online["value"](state).item()
        gaps = {}
        for a0, a1 in itertools.product(range(3), repeat=2):
            joint = torch.zeros(6)
            joint[a0], joint[3 + a1] = 1.0, 1.0
            q_jt = learner.objective.online["joint_q"](torch.cat([state, joint])).item()
            assert q_jt == pytest.approx(PAYOFF_NON_MONOTONIC[a0, a1], abs=0.1)  # TD fits the payoff
            gaps[(a0, a1)] = utilities[0, a0].item() + utilities[1, a1].item() - q_jt + value
    assert greedy == (0, 0)
    assert abs(gaps[greedy]) < 0.1  # L_opt's condition
    assert min(gaps.values()) > -0.1  # L_nopt's condition


# --- all new mixers ---


def test_config_and_overrides_accept_every_new_mixer():
    for name in NEW_MIXERS:
        assert LearnerConfig().with_overrides([f"mixer={name}"]).mixer == name
    config = LearnerConfig.from_dict({"mixer": "cw_qmix", "wqmix_alpha": 0.5, "qtran_nopt_weight": 1.0})
    assert (config.wqmix_alpha, config.qtran_nopt_weight) == (0.5, 1.0)


@pytest.mark.parametrize("mixer", NEW_MIXERS)
def test_new_mixers_checkpoint_resume_bit_for_bit_and_execute_from_the_agent_alone(tmp_path, mixer):
    def config(total):
        return matrix_game_config(mixer=mixer, total_env_steps=total, learning_starts=8, checkpoint_interval_steps=30,
                                  save_buffer=True)

    straight = train(make_matrix_game, config(60), tmp_path / "straight")
    train(make_matrix_game, config(30), tmp_path / "split")
    resumed = train(make_matrix_game, config(60), tmp_path / "split", resume=True)
    a, b = load_checkpoint(straight.checkpoint_path), load_checkpoint(resumed.checkpoint_path)
    assert {"online", "target"} <= a["learner"]["objective"].keys() and a["learner"]["mixer"] is None
    assert_same(a["learner"], b["learner"], "learner")

    policy, _ = load_policy(resumed.checkpoint_path)
    learner = QLearner(MATRIX_SPEC, config(60))
    learner.load_state_dict(b["learner"])
    expected = start_utilities(learner.agent)
    for index in range(2):
        action, q, _ = policy.act([1.0, 0.0], [1, 1, 1], index)
        assert np.allclose(q, expected[index].numpy()) and action == int(expected[index].argmax())
