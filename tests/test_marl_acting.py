"""The numpy acting step computes the agent network's function and follows its weights as they train."""

from __future__ import annotations

import numpy as np
import torch

from qmix_logistics.marl import RNNAgent
from qmix_logistics.marl.networks import AgentStepper


def torch_step(agent, obs, last, ids, hidden):
    with torch.no_grad():
        q, h = agent(torch.from_numpy(obs)[:, None], torch.from_numpy(last)[:, None], torch.from_numpy(ids),
                     torch.from_numpy(hidden))
    return q[:, 0].numpy(), h.numpy()


def test_the_numpy_step_matches_the_torch_network_and_follows_training():
    torch.manual_seed(0)
    agent = RNNAgent(obs_dim=7, n_actions=5, n_agents=3, hidden_dim=16)
    stepper = AgentStepper(agent)
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(12, 7)).astype(np.float32)
    last = rng.integers(-1, 5, size=12)
    ids = np.tile(np.arange(3), 4)
    hidden = rng.normal(size=(12, 16)).astype(np.float32)
    for _ in range(2):  # before and after an optimiser step changed the weights
        q, h = stepper(obs, last, ids, hidden)
        want_q, want_h = torch_step(agent, obs, last, ids, hidden)
        assert q.dtype == np.float32 and h.dtype == np.float32
        assert np.allclose(q, want_q, atol=1e-5) and np.allclose(h, want_h, atol=1e-5)
        optimizer = torch.optim.SGD(agent.parameters(), lr=0.5)
        agent(torch.from_numpy(obs)[:, None], torch.from_numpy(last)[:, None], torch.from_numpy(ids),
              torch.from_numpy(hidden))[0].sum().backward()
        optimizer.step()
    other = RNNAgent(obs_dim=7, n_actions=5, n_agents=3, hidden_dim=16)
    agent.load_state_dict(other.state_dict())  # a loaded checkpoint is seen too
    assert np.allclose(stepper(obs, last, ids, hidden)[0], torch_step(other, obs, last, ids, hidden)[0], atol=1e-5)


def test_a_stepper_that_does_not_follow_keeps_its_weights_until_refreshed():
    torch.manual_seed(1)
    agent = RNNAgent(obs_dim=4, n_actions=3, n_agents=2, hidden_dim=8)
    stepper = AgentStepper(agent, follow=False)
    rng = np.random.default_rng(1)
    obs, last = rng.normal(size=(2, 4)).astype(np.float32), np.array([-1, 2])
    ids, hidden = np.arange(2), np.zeros((2, 8), dtype=np.float32)
    before = stepper(obs, last, ids, hidden)[0]
    with torch.no_grad():  # what the learner thread's optimiser does to every weight and bias, in place
        for param in agent.parameters():
            param.add_(0.5)
    assert np.array_equal(stepper(obs, last, ids, hidden)[0], before)
    stepper.refresh()
    assert np.allclose(stepper(obs, last, ids, hidden)[0], torch_step(agent, obs, last, ids, hidden)[0], atol=1e-5)
