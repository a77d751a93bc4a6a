"""What every learned pricing algorithm shares: its learner's evaluated action is every domain's normalized prices."""

from __future__ import annotations

from typing import Any, Callable

from mdembed.agents.registry import Context, LearningAlgorithm
from mdembed.embedding.client import Embedding
from mdembed.env.layout import DomainLayout
from mdembed.env.quotes import PricingAdapter
from mdembed.core.errors import ConfigError
from mdembed.network.substrate import SubstrateState
from mdembed.workload.requests import Request


class PolicyPricing(LearningAlgorithm):
    """A market whose domains quote the prices of a learned policy (without exploration); the client embeds.

    ``learner(layout)`` builds the learner over the layout it shares with its
    training environment; training goes through
    :func:`mdembed.learning.loop.train`. A per-element policy (``policy="element"``)
    reads each own element's residual share and fits any substrate with as
    many domains (``portable``).
    """

    def __init__(self, context: Context, policy: str, prices: str, learner: Callable[[DomainLayout], Any]) -> None:
        if policy == "element" and not context.agent.observe_own_state:
            raise ConfigError("algorithm.policy=element reads each element's residual share: it needs agent.observe_own_state=true")
        self.context = context
        self.portable = policy == "element"  # a policy trained on one substrate acts on another
        self.layout = DomainLayout(context.substrate, context.agent.observe_own_state, prices)
        self.learner = learner(self.layout)
        self.pricing = PricingAdapter(self.layout, context.workload, context.market, context.routing)

    @classmethod
    def with_learner(cls, context: Context, settings: Any, learner: Callable[..., Any]) -> PolicyPricing:
        """Every domain prices with ``learner(layout, settings, seed, device)``, where ``settings`` has ``policy`` and
        ``prices``: the seed drawn from the run's stream, then the device resolved (a missing GPU stops here)."""
        from mdembed.learning.device import resolve_device  # torch, when a learner is built

        seed, device = int(context.rng.integers(2**31)), resolve_device(context.device)
        return cls(context, settings.policy, settings.prices, lambda layout: learner(layout, settings, seed, device))

    def decide(self, request: Request, state: SubstrateState) -> Embedding:
        pricing = self.pricing
        obs = self.layout.stack(pricing.observations(pricing.tensor(request), state))
        vectors = pricing.vectors(self.learner.act(obs, explore=False))
        embedding, self.quoted_prices = pricing.embed(vectors, request, state)
        return embedding
