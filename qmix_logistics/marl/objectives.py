"""Which ``mixer`` settings train through a joint objective, and how each is built from the config.

QMIX, VDN and IQL train through the learner's own mixer path and get None here; the others own extra
networks and losses (see :mod:`.joint_view`).
"""

from __future__ import annotations

import torch

from .config import LearnerConfig
from .env_contract import EnvSpec
from .joint_view import JointObjective
from .qplex import QPLEXObjective
from .qtran import QTRANObjective
from .weighted_qmix import WeightedQMIXObjective

#: Mixer names whose training goes through a JointObjective.
JOINT_MIXERS = ("qplex", "cw_qmix", "ow_qmix", "qtran")


def make_joint_objective(
    config: LearnerConfig, spec: EnvSpec, device: torch.device
) -> JointObjective | None:
    """The objective for ``config.mixer``, or None for the mixers the learner trains itself."""
    name = config.mixer
    if name == "qplex":
        return QPLEXObjective(spec.n_agents, spec.n_actions, spec.state_dim, config.hypernet_hidden_dim,
                              config.qplex_heads, device)
    if name in ("cw_qmix", "ow_qmix"):
        return WeightedQMIXObjective(
            "cw" if name == "cw_qmix" else "ow",
            config.wqmix_alpha,
            n_agents=spec.n_agents,
            n_actions=spec.n_actions,
            obs_dim=spec.obs_dim,
            state_dim=spec.state_dim,
            agent_hidden_dim=config.agent_hidden_dim,
            mixer_embed_dim=config.mixer_embed_dim,
            hypernet_hidden_dim=config.hypernet_hidden_dim,
            central_hidden_dim=config.central_hidden_dim,
            device=device,
        )
    if name == "qtran":
        return QTRANObjective(spec.n_agents, spec.n_actions, spec.state_dim, config.central_hidden_dim,
                              config.qtran_opt_weight, config.qtran_nopt_weight, device)
    return None
