"""Mixers: QMIX is monotonic in every agent's Q (non-negative weights), VDN is the plain sum."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from qmix_logistics.marl import QMixer, VDNMixer, make_mixer


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 10_000),
    n_agents=st.integers(1, 8),
    state_dim=st.integers(1, 12),
    scale=st.floats(0.1, 100.0),
)
def test_qmix_gradient_wrt_each_agent_q_is_non_negative(seed, n_agents, state_dim, scale):
    torch.manual_seed(seed)
    mixer = QMixer(n_agents, state_dim, embed_dim=8, hypernet_hidden_dim=16)
    for param in mixer.parameters():  # arbitrary (not just freshly initialised) weights
        param.data.normal_(0.0, 1.0)
    agent_qs = (torch.randn(5, 3, n_agents) * scale).requires_grad_(True)
    states = torch.randn(5, 3, state_dim) * scale
    q_tot = mixer(agent_qs, states)
    assert q_tot.shape == (5, 3)
    (grad,) = torch.autograd.grad(q_tot.sum(), agent_qs)
    assert (grad >= 0).all()
    w1, w2 = mixer.mixing_weights(states.view(-1, state_dim))
    assert (w1 >= 0).all() and (w2 >= 0).all()


def test_qmix_is_monotonic_along_each_agent_axis():
    torch.manual_seed(0)
    mixer = QMixer(n_agents=3, state_dim=4, embed_dim=8, hypernet_hidden_dim=16)
    states = torch.randn(64, 4)
    base = torch.randn(64, 3)
    for agent in range(3):
        bumped = base.clone()
        bumped[:, agent] += torch.rand(64) * 5.0
        assert (mixer(bumped, states) >= mixer(base, states) - 1e-6).all()


def test_vdn_is_the_sum_of_agent_qs():
    agent_qs = torch.randn(4, 7, 5)
    assert torch.allclose(VDNMixer()(agent_qs, torch.randn(4, 7, 3)), agent_qs.sum(-1))


def test_iql_has_no_mixer():
    assert make_mixer("iql", 3, 4, 8, 16) is None
    assert isinstance(make_mixer("vdn", 3, 4, 8, 16), VDNMixer)
    assert isinstance(make_mixer("qmix", 3, 4, 8, 16), QMixer)
