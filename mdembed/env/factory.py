"""The market environment as a library: :func:`parallel_env` builds the PettingZoo environment a command-line learner
trains in, with the command line's defaults.

The defaults are not written here: the config is composed the way ``python -m mdembed.run`` composes it (by default
``experiment=bteurope``, whose algorithm is DDPG: the main job), then checked by the same settings classes. The
keyword arguments are Hydra overrides under friendlier names, and ``overrides`` takes any other. What the environment
is built from is what the command line's training builds (``mdembed/market/run.py:training_task``): the substrate
of the topology settings and seed, the chosen algorithm's price granularity (``algorithm.prices``), what domains
observe and are rewarded with (``agent.*``), and the seed's training workload stream of ``train.steps`` requests per
episode (or, with ``phase="eval"``, the evaluation workload every algorithm is measured on).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

from mdembed.settings import MARKET_SCENARIO, Settings, settings_from_config
from mdembed.config import compose
from mdembed.env.layout import PRICE_GRANULARITIES, DomainLayout
from mdembed.env.market import MarketEnv
from mdembed.core.errors import ConfigError
from mdembed.network.make import make_substrate

DEFAULT_EXPERIMENT = "bteurope"  # the main job: BtEurope in 3 domains, a DDPG pricing agent per domain
PHASES = {"train": "train", "eval": "workload"}  # phase -> the workload stream the command line draws it from


def parallel_env(
    *,
    topology: str | None = None,
    num_domains: int | None = None,
    seed: int | None = None,
    algorithm: str | None = None,
    prices: str | None = None,
    observe_own_state: bool | None = None,
    reward: str | None = None,
    steps: int | None = None,
    phase: str = "train",
    experiment: str | None = DEFAULT_EXPERIMENT,
    overrides: Sequence[str] = (),
) -> MarketEnv:
    """The market as a PettingZoo ``ParallelEnv``, set up as the command line sets up its learners' training.

    Every argument left at ``None`` keeps the command line's value for ``experiment`` (``None``: the bare
    config.yaml, whose algorithm quotes no learned prices, so pass ``algorithm=`` then). Each one is the Hydra
    override in brackets:

    - ``topology``: a topology name (``topology=NAME``); ``num_domains`` (``topology.num_domains=N``);
    - ``seed`` (``seed=N``): the substrate's resources and partition; ``env.reset(seed=env.settings.seed)`` draws the
      command line's own training workload of that seed (``phase="eval"``: ``env.settings.eval_seed``, its
      evaluation workload);
    - ``algorithm`` (``algorithm=NAME``): the learner whose layout the agents get; ``prices`` (``algorithm.prices=``):
      what one quoted price covers, ``slot``, ``node`` or ``domain`` (4 prices per domain: DDPG's default);
    - ``observe_own_state`` (``agent.observe_own_state=``), ``reward`` (``agent.reward=``: revenue or acceptance);
    - ``steps``: requests per episode (``train.steps=N``; with ``phase="eval"``, ``eval.requests=N``);
    - ``phase``: ``train`` (the seed's training workload stream, as a learner trains on) or ``eval`` (the evaluation
      workload every algorithm is measured on);
    - ``overrides``: any other Hydra overrides (``["market.price_max=20", "workload.arrival_rate=0.1"]``), applied
      after the keyword arguments.

    Observations are each domain's request tensor and own residual shares in [0, 1] (``float32``); actions are each
    domain's prices in ``[market.price_min, market.price_max]`` (a command-line learner's normalized action ``a`` in
    [-1, 1] is the price ``price_min + (a + 1) / 2 * (price_max - price_min)``). ``env.settings`` holds the
    validated settings, ``env.layout`` the layout. A bad value raises :class:`~mdembed.core.errors.ConfigError`.
    """
    if phase not in PHASES:
        raise ConfigError(f"phase must be one of {', '.join(PHASES)}, got {phase!r}")
    named: list[str] = [] if experiment is None else [f"experiment={experiment}"]
    for key, value in (
        ("topology", topology), ("topology.num_domains", num_domains), ("seed", seed), ("algorithm", algorithm),
        ("algorithm.prices", prices), ("agent.observe_own_state", observe_own_state), ("agent.reward", reward),
        ("train.steps" if phase == "train" else "eval.requests", steps),
    ):  # fmt: skip
        if value is not None:
            named.append(f"{key}={_hydra_value(value)}")
    settings = settings_from_config(_compose([*named, *overrides]))
    if settings.scenario != MARKET_SCENARIO:
        raise ConfigError(f"parallel_env builds the {MARKET_SCENARIO} scenario's environment, got scenario={settings.scenario}")
    return make_env(settings, phase)


def make_env(settings: Settings, phase: str = "train") -> MarketEnv:
    """The environment of validated ``settings``: the substrate of their topology and seed, the chosen algorithm's
    price granularity, and the ``phase``'s workload (see :func:`parallel_env`)."""
    granularity = settings.algorithm.get("prices")
    if granularity is None:
        raise ConfigError(
            f"algorithm {settings.algorithm['name']} quotes no learned prices (it has no algorithm.prices): "
            "choose a learning algorithm, e.g. algorithm=ddpg"
        )
    if granularity not in PRICE_GRANULARITIES:
        raise ConfigError(f"algorithm.prices must be one of {', '.join(PRICE_GRANULARITIES)}, got {granularity!r}")
    substrate = make_substrate(settings.topology, settings.seed)
    requests = settings.train.steps if phase == "train" else settings.eval.requests
    env = MarketEnv(
        substrate,
        dataclasses.replace(settings.workload, num_requests=requests),
        settings.market,
        settings.routing,
        workload_stream=PHASES[phase],
        layout=DomainLayout(substrate, settings.agent.observe_own_state, granularity),
        reward=settings.agent.reward,
    )
    env.settings = settings
    return env


def _hydra_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _compose(overrides: list[str]) -> Any:
    """The command line's config of ``overrides``; Hydra's refusals as one-line ConfigErrors."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        return compose(overrides)
    except (HydraException, OmegaConfBaseException) as err:
        line = (str(err).strip().splitlines() or [type(err).__name__])[0]
        if line.startswith("Could not override '"):  # a key the config does not have
            key = line.split("'")[1]
            line = f"unknown key {key}"
            if key == "algorithm.prices":
                line += ": the chosen algorithm quotes no learned prices; choose one that does, e.g. algorithm=ddpg"
        raise ConfigError(line) from None
