"""Small cooperative games for learning tests: the QMIX paper's two-step game and a non-monotonic matrix game.

The two-step game (Rashid et al. 2018, section 6.1) is the smallest env where value factorisation matters:
the best joint return (8, in state 2B) needs a non-linear combination of the agents' values, which QMIX's
monotonic mixer can represent and VDN's sum cannot, so VDN settles for the safe 7 of state 2A.

The one-step matrix game [[8, -12, -12], [-12, 0, 0], [-12, 0, 0]] (used by the weighted QMIX and QPLEX
papers) goes one further: with uniform exploration, an agent's best action depends on its partner's, so no
monotonic mixing of per-agent utilities ranks the joint actions correctly, and QMIX and VDN settle for 0.
QPLEX, weighted QMIX and QTRAN can represent it.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from .config import LearnerConfig

START, STATE_2A, STATE_2B, END = range(4)
#: Team reward in state 2B for (agent_0 action, agent_1 action).
PAYOFF_2B = np.array([[0.0, 1.0], [1.0, 8.0]], dtype=np.float32)
#: Team reward in state 2A, whatever the agents do.
PAYOFF_2A = 7.0


class TwoStepGame(ParallelEnv):
    """Step 1: agent_0's action picks state 2A (0) or 2B (1), reward 0. Step 2: the payoff, then the end.

    Observations equal the one-hot state {start, 2A, 2B, end}, as in the paper; every action is always valid.
    """

    metadata = {"name": "two_step_v0", "render_modes": []}

    def __init__(self) -> None:
        self.possible_agents = ["agent_0", "agent_1"]
        self.agents: list[str] = []
        self._stage = START
        self._obs_space = spaces.Dict(
            {
                "observation": spaces.Box(0.0, 1.0, shape=(4,), dtype=np.float32),
                "action_mask": spaces.Box(0, 1, shape=(2,), dtype=np.int8),
            }
        )
        self._action_space = spaces.Discrete(2)

    def observation_space(self, agent: str) -> spaces.Dict:
        """The same cached Dict space for every agent."""
        return self._obs_space

    def action_space(self, agent: str) -> spaces.Discrete:
        """Two actions per agent."""
        return self._action_space

    def state(self) -> np.ndarray:
        """One-hot of the current stage."""
        return np.eye(4, dtype=np.float32)[self._stage]

    def _observations(self) -> dict[str, dict[str, np.ndarray]]:
        return {
            agent: {"observation": self.state(), "action_mask": np.ones(2, dtype=np.int8)}
            for agent in self.possible_agents
        }

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, dict[str, Any]]]:
        """Back to the start state (the game is deterministic; the seed is accepted and unused)."""
        self.agents = list(self.possible_agents)
        self._stage = START
        return self._observations(), {agent: {} for agent in self.agents}

    def step(self, actions: dict[str, int]) -> tuple[dict, dict, dict, dict, dict]:
        """Apply the joint action; the episode terminates after the second step."""
        if self._stage == START:
            self._stage = STATE_2A if int(actions["agent_0"]) == 0 else STATE_2B
            reward, done = 0.0, False
        else:
            if self._stage == STATE_2A:
                reward = PAYOFF_2A
            else:
                reward = float(PAYOFF_2B[int(actions["agent_0"]), int(actions["agent_1"])])
            self._stage, done = END, True
        agents = list(self.agents)
        observations = self._observations()
        rewards = {agent: reward for agent in agents}
        terminations = {agent: done for agent in agents}
        truncations = {agent: False for agent in agents}
        infos: dict[str, dict[str, Any]] = {agent: {} for agent in agents}
        if done:
            self.agents = []
        return observations, rewards, terminations, truncations, infos


def make_two_step_game(seed: int = 0) -> TwoStepGame:
    """Picklable factory for runners and tests (the game has no randomness; ``seed`` is unused)."""
    return TwoStepGame()


#: What the small test games share: uniform exploration throughout (epsilon 1, as in the papers), tiny
#: networks, no periodic evaluation or checkpoint.
_SMALL_GAME_SETTINGS: dict[str, Any] = {
    "epsilon_start": 1.0,
    "epsilon_end": 1.0,
    "batch_size": 32,
    "lr": 0.005,
    "agent_hidden_dim": 16,
    "mixer_embed_dim": 8,
    "hypernet_hidden_dim": 16,
    "buffer_mb": 1,
    "target_update_interval": 10,
    # one env, one update per episode, 1-step targets and raw rewards: the settings these games were tuned with
    "n_envs": 1,
    "updates_per_episode": 1.0,
    "td_lambda": None,
    "standardise_rewards": False,
    "buffer_steps": None,
    "eval_interval_steps": 10**9,
    "eval_episodes": 1,
    "checkpoint_interval_steps": 10**9,
    "log_interval_steps": 100,
    "device": "cpu",
}


def _small_game_config(game: dict[str, Any], overrides: dict[str, Any]) -> LearnerConfig:
    return LearnerConfig.from_dict({**_SMALL_GAME_SETTINGS, **game, **overrides})


def two_step_config(**overrides: Any) -> LearnerConfig:
    """Small settings that solve the two-step game in about 300 episodes on one CPU core.

    Exploration stays uniform (epsilon 1) as in the paper, so the buffer covers every joint action and the
    greedy policy shows what each mixer can represent. Keyword arguments override single fields.
    """
    return _small_game_config({"learning_starts": 64, "total_env_steps": 600}, overrides)


#: Team reward of the non-monotonic matrix game: agent_0's action picks the row, agent_1's the column.
PAYOFF_NON_MONOTONIC = np.array([[8.0, -12.0, -12.0], [-12.0, 0.0, 0.0], [-12.0, 0.0, 0.0]], dtype=np.float32)


class MatrixGame(ParallelEnv):
    """One step: two agents each pick an action, the team gets ``payoff[a_0, a_1]``, and the episode ends.

    Observation and state are the one-hot stage {start, end}; every action is always valid.
    """

    metadata: ClassVar[dict[str, Any]] = {"name": "matrix_game_v0", "render_modes": []}

    def __init__(self, payoff: np.ndarray = PAYOFF_NON_MONOTONIC) -> None:
        self.payoff = np.asarray(payoff, dtype=np.float32)
        if self.payoff.ndim != 2 or self.payoff.shape[0] != self.payoff.shape[1]:
            raise ValueError(f"payoff must be a square matrix, got shape {self.payoff.shape}")
        n_actions = self.payoff.shape[0]
        self.possible_agents = ["agent_0", "agent_1"]
        self.agents: list[str] = []
        self._done = False
        self._obs_space = spaces.Dict(
            {
                "observation": spaces.Box(0.0, 1.0, shape=(2,), dtype=np.float32),
                "action_mask": spaces.Box(0, 1, shape=(n_actions,), dtype=np.int8),
            }
        )
        self._action_space = spaces.Discrete(n_actions)

    def observation_space(self, agent: str) -> spaces.Dict:
        """The same cached Dict space for every agent."""
        return self._obs_space

    def action_space(self, agent: str) -> spaces.Discrete:
        """One action per row (column) of the payoff."""
        return self._action_space

    def state(self) -> np.ndarray:
        """One-hot of the stage: [1, 0] before the move, [0, 1] after it."""
        return np.eye(2, dtype=np.float32)[int(self._done)]

    def _observations(self) -> dict[str, dict[str, np.ndarray]]:
        mask = np.ones(self._action_space.n, dtype=np.int8)
        return {agent: {"observation": self.state(), "action_mask": mask} for agent in self.possible_agents}

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, dict[str, Any]]]:
        """Back to the single decision (the game is deterministic; the seed is accepted and unused)."""
        self.agents, self._done = list(self.possible_agents), False
        return self._observations(), {agent: {} for agent in self.agents}

    def step(self, actions: dict[str, int]) -> tuple[dict, dict, dict, dict, dict]:
        """Pay the joint action's entry; the episode terminates."""
        reward = float(self.payoff[int(actions["agent_0"]), int(actions["agent_1"])])
        agents, self.agents, self._done = list(self.agents), [], True
        observations = self._observations()
        return (observations, {a: reward for a in agents}, {a: True for a in agents},
                {a: False for a in agents}, {a: {} for a in agents})


def make_matrix_game(seed: int = 0) -> MatrixGame:
    """Picklable factory of the non-monotonic matrix game (no randomness; ``seed`` is unused)."""
    return MatrixGame()


def matrix_game_config(**overrides: Any) -> LearnerConfig:
    """Small settings for the matrix game: uniform exploration throughout (epsilon 1), as in the papers.

    Each episode is one step, so ``total_env_steps`` counts episodes. Keyword arguments override fields.
    """
    return _small_game_config({"learning_starts": 32, "total_env_steps": 300, "central_hidden_dim": 64}, overrides)
