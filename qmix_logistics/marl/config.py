"""Hyperparameters of the QMIX/VDN/IQL learner, in one validated model.

The defaults follow pymarl2's recipe for QMIX (8 envs in lockstep, batches of 128 episodes, TD(lambda), Adam
at 1e-3, targets copied every 25 updates, a replay of about 5,000 short episodes, rewards divided by their
running std) with two changes that Level-Based Foraging 8x8-2p-2f-coop measured (benchmarks/bench_lbf.py,
figures in the README): two updates per round of 8 episodes instead of one, and lambda 0.9 instead of 0.6,
without which the agents learn to load one food and never the second.

Every knob the learner, runner and trainer read lives here, so a run is fully described by this one object
(it is stored in every checkpoint). Errors name the field as ``training.<name>`` so the CLI can point at the
exact line of a config file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from qmix_logistics.common.errors import QlogError

#: Episodes up to this many steps are trained whole when ``chunk_len`` is None; longer ones in windows.
WHOLE_EPISODE_MAX_STEPS = 128
#: Window length used for long episodes when ``chunk_len`` is None.
AUTO_CHUNK_LEN = 64

# Fields that only say how long or how visibly a run goes: they may change when a run is resumed.
RESUMABLE_FIELDS = frozenset(
    {
        "total_env_steps",
        "max_wall_minutes",
        "eval_interval_steps",
        "eval_episodes",
        "checkpoint_interval_steps",
        "log_interval_steps",
        "save_buffer",
        "keep_best",
        "select_candidates",
        "select_episodes",
        "n_envs",
        "env_workers",
        "device",
        "torch_threads",
    }
)


class LearnerConfig(BaseModel):
    """Everything that defines a QMIX/VDN/IQL training run on a PettingZoo ParallelEnv."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    mixer: Literal["qmix", "vdn", "iql", "qplex", "cw_qmix", "ow_qmix", "qtran"] = "qmix"
    """Value factorisation: QMIX (monotonic hypernet mixer), VDN (sum), IQL (no mixer, per-agent TD), or one
    that can represent non-monotonic payoffs: QPLEX (duplex dueling), CW-/OW-QMIX (weighted QMIX with an
    unrestricted Q*) or QTRAN (QTRAN-base). Execution is greedy per agent on its own utilities in every case."""
    agent_hidden_dim: int = Field(64, ge=1)
    """Width of the agent network's GRU hidden state (and of its input layer)."""
    mixer_embed_dim: int = Field(32, ge=1)
    """Width of the QMIX mixing layer."""
    hypernet_hidden_dim: int = Field(64, ge=1)
    """Hidden width of the hypernetworks that turn the global state into mixing weights."""
    central_hidden_dim: int = Field(256, ge=1)
    """Hidden width of the unrestricted joint networks: weighted QMIX's feed-forward Q* and QTRAN's Q_jt and V."""
    wqmix_alpha: float = Field(0.1, gt=0.0, le=1.0)
    """Weighted QMIX: weight of the QMIX loss on joint actions outside the weighting's condition (1 inside it)."""
    qplex_heads: int = Field(10, ge=1)
    """QPLEX: attention heads that form the positive advantage weights lambda_i(s, u)."""
    qtran_opt_weight: float = Field(1.0, ge=0.0)
    """QTRAN: weight of L_opt (the factorisation must equal Q_jt at the greedy joint action)."""
    qtran_nopt_weight: float = Field(0.1, ge=0.0)
    """QTRAN: weight of L_nopt (the factorisation must not fall below Q_jt at other joint actions)."""
    lr: float = Field(1e-3, gt=0.0, le=1.0)
    """Adam learning rate."""
    gamma: float = Field(0.99, ge=0.0, le=1.0)
    """Discount factor per env step, or per ``gamma_time_unit`` of elapsed time with ``discount_per="time"``."""
    discount_per: Literal["step", "time"] = "step"
    """What one factor of gamma covers: one env step, or ``gamma_time_unit`` of the time each step lasted as the
    env reports it in ``infos[agent]["duration"]`` (a semi-MDP, for envs whose steps are events of unequal
    length; steps of an env that reports nothing last 1.0)."""
    gamma_time_unit: float = Field(1.0, gt=0.0)
    """With ``discount_per="time"``: the elapsed time, in the env's own unit (minutes for dispatch), that one
    factor of gamma covers; step t is discounted by gamma ** (duration_t / gamma_time_unit)."""
    batch_size: int = Field(128, ge=1)
    """Episodes (or windows of episodes, see chunk_len) per gradient update."""
    buffer_mb: float = Field(1024.0, gt=0.0)
    """Replay memory budget in MiB: the most the buffer may take (the capacity it buys is logged)."""
    replay_dtype: Literal["float32", "float16"] = "float32"
    """Precision the replay (and the episode being played) keeps observations and states in. With a large fleet
    they are nearly all of a step's bytes, so ``float16`` (about three significant digits, ample for features
    scaled to a few units) halves the memory a day takes; batches reach the networks as float32."""
    buffer_steps: int | None = Field(250_000, ge=2)
    """Replay capacity in env steps (episode ends count one more), within ``buffer_mb``; None: what the memory
    budget holds. Old experience leaves first; a capacity of a few thousand episodes keeps the buffer close
    to the current policy."""
    epsilon_start: float = Field(1.0, ge=0.0, le=1.0)
    """Exploration rate at env step 0."""
    epsilon_end: float = Field(0.05, ge=0.0, le=1.0)
    """Exploration rate once annealing is over."""
    epsilon_anneal_steps: int = Field(100_000, ge=0)
    """Env steps (summed over envs) over which epsilon falls linearly from start to end."""
    expert_share: float = Field(0.0, ge=0.0, le=1.0)
    """Share of exploratory actions that follow the env's suggestion (``infos[agent]["expert_action"]``)
    instead of a uniform valid action; envs without suggestions explore uniformly."""
    expert_warmup_episodes: int = Field(0, ge=0)
    """First episodes played entirely by the env's suggestions, to seed the replay buffer with demonstrations."""
    demo_margin: float = Field(0.8, ge=0.0)
    """Large-margin loss on demonstration steps (DQfD): the demonstrated action's Q must beat every other
    valid action's by this much (in standardised reward units when rewards are standardised)."""
    demo_loss_weight: float = Field(1.0, ge=0.0)
    """Weight of the large-margin loss against the TD loss (0 turns it off)."""
    td_loss_weight: float = Field(1.0, ge=0.0)
    """Weight of the TD loss. 0 trains the margin loss alone: imitation of the suggestions at every state the
    learner visits (with ``margin_on_all_steps``), no reinforcement learning, the ablation that shows what
    the TD loss adds."""
    margin_on_all_steps: bool = False
    """Apply the margin loss to the env's suggestion at every stored step, not only in demonstration
    episodes: the policy stays close to the suggested rule and departs from it only where the TD targets
    favour another action by more than the margin."""
    demo_batch_share: float = Field(0.25, ge=0.0, le=1.0)
    """Share of each batch's windows drawn from the demonstrations handed to ``train`` (kept for the whole
    run, never evicted, as in DQfD); the rest come from the replay buffer."""
    relabelled_share: float | None = Field(None, ge=0.0, le=1.0)
    """With a relabeller (DAgger): share of the demonstration windows drawn from the teacher's labels on the
    learner's own states once there are any (None: in proportion to the steps each holds, as one dataset)."""
    pretrain_updates: int = Field(0, ge=0)
    """Gradient updates on those demonstrations alone before the first episode is collected."""
    demo_q_filter: bool = False
    """Train the margin loss only where the target networks do not value another valid action above the
    demonstrated one by more than the margin (a Q-filter): the critic may overrule its teacher."""
    demo_weight_final: float | None = Field(None, ge=0.0)
    """If set, the margin loss weight falls linearly from ``demo_loss_weight`` to this value over
    ``demo_weight_decay_steps`` env steps, so demonstrations guide early and do not cap the policy later."""
    demo_weight_decay_steps: int = Field(200_000, ge=1)
    """Env steps over which the margin loss weight is annealed (with ``demo_weight_final``)."""
    target_update_interval: int = Field(25, ge=1)
    """Gradient updates between hard copies of the online networks into the target networks."""
    target_tau: float | None = Field(None, gt=0.0, le=1.0)
    """If set, Polyak-average the targets by this fraction after every update instead of hard copies."""
    grad_clip: float = Field(10.0, gt=0.0)
    """Maximum global gradient norm."""
    double_q: bool = True
    """Online networks pick the next action among valid ones, target networks evaluate it (van Hasselt)."""
    td_lambda: float | None = Field(0.9, ge=0.0, le=1.0)
    """TD(lambda) targets over each training window; None gives 1-step targets. The returns follow the
    behaviour policy (no off-policy correction), so pair lambda > 0 with a low final epsilon. A high lambda
    lets the rewards actually received correct values that bootstrapping alone keeps up, as when an agent
    stands still and each step's target is its own estimate again: on LBF with lambda 0.6 the agents loaded
    one food and then stood waiting for the rest of the day; with 0.9 they load both (README)."""
    standardise_rewards: bool = True
    """Divide rewards by their running std (not shifted: a per-step offset changes which episode lengths pay)."""
    chunk_len: int | None = Field(None, ge=1)
    """Trained steps per window; None trains whole episodes up to 128 steps and 64-step windows beyond."""
    burn_in: int = Field(16, ge=0)
    """Steps before each window that only warm the GRU hidden state and get no gradient (R2D2)."""
    updates_per_episode: float = Field(0.25, gt=0.0)
    """Gradient updates per collected episode, once learning has started (fractions accumulate)."""
    learn_during_collection: bool = True
    """Do the gradient updates earned by one round of episodes on a background thread while the next round
    is played (on weights taken at its start), so that learner and envs use the cores at the same time;
    the results stay reproducible from the seed. False updates between rounds, with the envs idle."""
    learning_starts: int = Field(10_000, ge=0)
    """Env steps to collect before the first gradient update."""
    n_envs: int = Field(8, ge=1)
    """Environments stepped in lockstep, their agents acting in one batched forward pass; each round of
    collection plays one episode in each."""
    env_workers: int | None = Field(None, ge=0)
    """Processes that step those envs, each holding ``n_envs / env_workers`` of them (0: all in the training
    process). None measures one env's step time and uses processes only where that saves time (cheap envs
    step faster in-process than through a pipe). The layout never changes the results."""
    max_wall_minutes: float | None = Field(None, gt=0.0)
    """Stop early (with a final evaluation and checkpoint) once a session has trained this long; None = no cap."""
    total_env_steps: int = Field(1_000_000, ge=1)
    """Env steps (summed over envs) after which training stops."""
    eval_interval_steps: int = Field(50_000, ge=1)
    """Env steps between greedy evaluations."""
    eval_episodes: int = Field(8, ge=1)
    """Greedy episodes per evaluation, on fixed seeds (never those ``qlog eval`` holds out)."""
    keep_best: bool = True
    """After each evaluation whose mean return beats every earlier one, write the policy to ``best.pt`` beside
    the checkpoint; a run folder then stands for that policy when it is evaluated, served or exported
    (``RUN/checkpoint.pt`` names the last one). Training itself always continues from the last."""
    select_candidates: int = Field(0, ge=0)
    """Keep the policies of this many best-scoring evaluations (under ``candidates/`` in the run folder); when
    training ends, play each on ``select_episodes`` further days and make ``best.pt`` the one whose mean over
    all its days is best (``selection.csv`` lists them). 0: ``best.pt`` is the best single evaluation."""
    select_episodes: int = Field(16, ge=1)
    """Greedy episodes each candidate plays when the run chooses among them, on fixed seeds after the
    evaluation's own (never those ``qlog eval`` holds out)."""
    checkpoint_interval_steps: int = Field(100_000, ge=1)
    """Env steps between checkpoints (one is always written at the end)."""
    log_interval_steps: int = Field(5_000, ge=1)
    """Env steps between rows of progress.csv and TensorBoard points."""
    save_buffer: bool = False
    """Store the replay buffer in checkpoints so a resumed run continues bit for bit (large files)."""
    torch_threads: int | None = Field(1, ge=1)
    """CPU threads torch may use while training; None keeps torch's default. Small recurrent nets run
    fastest on one thread, and the env workers need the other cores."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where the networks live; auto picks cuda when available."""
    seed: int = Field(0, ge=0)
    """Seeds network init, exploration, replay sampling and the training episodes' env seeds."""

    @model_validator(mode="after")
    def _check_consistency(self) -> LearnerConfig:
        if self.epsilon_end > self.epsilon_start:
            raise ValueError("epsilon_end must not exceed epsilon_start")
        if self.env_workers is not None and self.env_workers > self.n_envs:
            raise ValueError(f"env_workers ({self.env_workers}) cannot exceed n_envs ({self.n_envs})")
        if self.td_loss_weight == 0.0 and self.demo_loss_weight == 0.0:
            raise ValueError("td_loss_weight and demo_loss_weight are both 0: nothing would be learned")
        if self.select_candidates > 0 and not self.keep_best:
            raise ValueError("select_candidates chooses best.pt, which keep_best: false does not write")
        return self

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, source: str | None = None, prefix: str = "training"
    ) -> LearnerConfig:
        """Validate a plain mapping (e.g. the ``training:`` block of a YAML file).

        Raises QlogError naming ``prefix.field`` for unknown keys and bad values, so users see where to look.
        """
        if not isinstance(data, Mapping):
            raise QlogError(f"expected a mapping of settings, got {type(data).__name__}", source=source, field=prefix)
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            raise _as_qlog_error(exc, source=source, prefix=prefix) from None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of all fields (what checkpoints store)."""
        return self.model_dump()

    def with_overrides(
        self, overrides: Mapping[str, Any] | Iterable[str], *, prefix: str = "training"
    ) -> LearnerConfig:
        """Return a copy with CLI overrides applied: ``{"lr": "1e-3"}`` or ``["lr=1e-3", "td_lambda=none"]``.

        Strings are parsed as YAML scalars ("none"/"null" mean None), then validated like from_dict.
        """
        if isinstance(overrides, Mapping):
            pairs = list(overrides.items())
        else:
            pairs = [_split_assignment(item, prefix) for item in overrides]
        merged = self.to_dict()
        for key, value in pairs:
            merged[key] = _parse_scalar(value) if isinstance(value, str) else value
        return LearnerConfig.from_dict(merged, source="override", prefix=prefix)

    def window(self, longest_episode: int) -> tuple[int | None, int]:
        """Resolve (chunk_len, burn_in) for training; chunk_len None means whole episodes without burn-in."""
        if self.chunk_len is None:
            if longest_episode <= WHOLE_EPISODE_MAX_STEPS:
                return None, 0
            return AUTO_CHUNK_LEN, self.burn_in
        return self.chunk_len, self.burn_in

    def demo_weight_at(self, env_steps: int) -> float:
        """Weight of the margin loss after ``env_steps`` (constant unless ``demo_weight_final`` is set)."""
        if self.demo_weight_final is None:
            return self.demo_loss_weight
        frac = min(1.0, env_steps / self.demo_weight_decay_steps)
        return self.demo_loss_weight + frac * (self.demo_weight_final - self.demo_loss_weight)

    def epsilon_at(self, env_steps: int) -> float:
        """Linear exploration schedule in env steps."""
        if self.epsilon_anneal_steps == 0:
            return self.epsilon_end
        fraction = min(env_steps / self.epsilon_anneal_steps, 1.0)
        return self.epsilon_start + fraction * (self.epsilon_end - self.epsilon_start)

    def resolved_device(self) -> str:
        """The torch device string: "auto" becomes "cuda" when a GPU is visible, else "cpu"."""
        import torch

        if self.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        if self.device == "cuda" and not torch.cuda.is_available():
            raise QlogError("device is 'cuda' but torch sees no GPU", field="training.device")
        return self.device


def _as_qlog_error(exc: ValidationError, *, source: str | None, prefix: str) -> QlogError:
    first = exc.errors()[0]
    location = ".".join(str(part) for part in first["loc"])
    field = f"{prefix}.{location}" if location else prefix
    if first["type"] == "extra_forbidden":
        known = ", ".join(sorted(LearnerConfig.model_fields))
        return QlogError(f"unknown setting (known: {known})", source=source, field=field)
    message = first["msg"].removeprefix("Value error, ")
    return QlogError(f"{message} (got {first.get('input')!r})", source=source, field=field)


def _split_assignment(item: str, prefix: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise QlogError(f"override {item!r} must look like name=value", source="override", field=prefix)
    key = key.strip().removeprefix(f"{prefix}.")
    return key, value.strip()


def _parse_scalar(text: str) -> Any:
    if text.strip().lower() in {"none", "null", "~", ""}:
        return None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text
