"""DAgger: a teacher labels the learner's own episodes during training, and the labels steer the learner."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from qmix_logistics.marl.buffer import Episode
from qmix_logistics.marl.relabel import LabelAgreement, demo_split


class TwoStepOracle:
    """Labels the two-step game's plan worth 8 on whatever the learner played: agent_0 picks state 2B, where
    both pick action 1 (in state 2A every joint action pays 7, so nothing is labelled there)."""

    interval_episodes = 1

    def __init__(self) -> None:
        self.calls = 0
        self.closed = False

    def __call__(self, episodes):
        self.calls += 1
        labelled = []
        for episode in episodes:
            expert = np.full_like(episode.actions, -1)
            expert[0, 0] = 1
            if episode.length > 1 and episode.obs[1, 0].argmax() == 2:  # state 2B
                expert[1] = 1
            labelled.append(dataclasses.replace(episode, expert=expert, demo=True))
        return labelled

    def close(self) -> None:
        self.closed = True


def test_labels_on_the_learners_own_states_teach_vdn_the_plan_it_cannot_find_alone(tmp_path) -> None:
    from qmix_logistics.marl import train
    from qmix_logistics.marl.testing import make_two_step_game, two_step_config

    oracle = TwoStepOracle()
    cfg = two_step_config(seed=0, mixer="vdn", demo_loss_weight=2.0, demo_batch_share=0.5)
    result = train(make_two_step_game, cfg, tmp_path / "run", relabeller=oracle)
    assert oracle.calls == result.episodes and oracle.closed
    assert result.last_eval["return"] == 8.0  # VDN alone settles for 7 (test_marl_two_step)


def _episode(actions: np.ndarray, expert: np.ndarray, avail: np.ndarray) -> Episode:
    t, n = actions.shape
    return Episode(obs=np.zeros((t + 1, n, 2), np.float32), state=np.zeros((t + 1, 3), np.float32), avail=avail,
                   actions=actions, rewards=np.zeros(t, np.float32), terminated=False, seed=0, expert=expert, demo=True)


def test_agreement_counts_only_labelled_real_choices() -> None:
    avail = np.ones((4, 2, 3), dtype=bool)
    avail[1, 1] = [True, False, False]  # agent 1 has no choice at step 1
    actions = np.array([[0, 1], [2, 0], [1, 1]])
    expert = np.array([[0, 2], [1, 0], [-1, 1]])
    agreement = LabelAgreement.of([_episode(actions, expert, avail)])
    assert (agreement.labelled, agreement.agreed) == (4, 2)  # (0,0) yes, (0,1) no, (1,0) no, (2,1) yes
    assert agreement.share == pytest.approx(0.5)


def test_demonstration_windows_split_by_the_steps_each_buffer_holds() -> None:
    rng = np.random.default_rng(0)
    assert demo_split(8, 1000, 0, rng) == 0 and demo_split(8, 0, 50, rng) == 8 and demo_split(0, 10, 10, rng) == 0
    draws = [demo_split(100, 3000, 1000, rng) for _ in range(200)]
    assert np.mean(draws) == pytest.approx(25.0, abs=1.0)
    fixed = [demo_split(100, 3000, 1000, rng, share=0.5) for _ in range(200)]
    assert np.mean(fixed) == pytest.approx(50.0, abs=1.5) and demo_split(8, 3000, 0, rng, share=0.5) == 0
