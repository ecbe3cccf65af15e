"""Learning checks beyond monotonic mixing, through ``train`` on PettingZoo games.

On the non-monotonic matrix game [[8, -12, -12], [-12, 0, 0], [-12, 0, 0]] with uniform exploration, weighted
QMIX (both weightings) and QTRAN find the joint action worth 8, where VDN settles for 0. On the QMIX paper's
two-step game every new mixer still finds the 8 that QMIX finds.
"""

from __future__ import annotations

import pytest

from qmix_logistics.marl import train
from qmix_logistics.marl.testing import (
    make_matrix_game,
    make_two_step_game,
    matrix_game_config,
    two_step_config,
)

SOLVERS = ["cw_qmix", "ow_qmix", "qtran"]


@pytest.mark.parametrize("mixer", SOLVERS)
def test_non_monotonic_game_is_solved(tmp_path, mixer):
    result = train(make_matrix_game, matrix_game_config(mixer=mixer, seed=0), tmp_path)
    assert result.last_eval["return"] == pytest.approx(8.0)


@pytest.mark.slow
@pytest.mark.parametrize("mixer", SOLVERS)
def test_non_monotonic_game_is_solved_on_nine_of_ten_seeds(tmp_path, mixer):
    returns = [train(make_matrix_game, matrix_game_config(mixer=mixer, seed=seed), tmp_path / str(seed))
               .last_eval["return"] for seed in range(10)]
    assert returns.count(8.0) >= 9, returns


def test_vdn_cannot_represent_the_non_monotonic_game_and_takes_zero(tmp_path):
    """Against a uniform partner action 0 is worth (8 - 24) / 3 to each agent, less than the others' -4."""
    result = train(make_matrix_game, matrix_game_config(mixer="vdn", seed=0), tmp_path)
    assert result.last_eval["return"] == pytest.approx(0.0)


@pytest.mark.slow
@pytest.mark.parametrize("mixer", ["qplex", "cw_qmix", "ow_qmix", "qtran"])
def test_new_mixers_still_solve_the_two_step_game(tmp_path, mixer):
    result = train(make_two_step_game, two_step_config(mixer=mixer, seed=0), tmp_path)
    assert result.last_eval["return"] == pytest.approx(8.0)
