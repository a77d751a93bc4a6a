"""Simulated annealing, the search both ``sa`` and ``sa_cff`` run (DESIGN 5): one loop, two kinds of candidate.

A candidate is scored by its energy (lower is better). A move to a proposal
is taken by the Metropolis rule at a temperature that cools geometrically
after every move; the search keeps the best candidate it evaluated and stops
when its ``done`` test holds for the best energy (nothing can beat it), when
the temperature is negligible, or after ``patience`` moves without a new best.
All randomness is drawn by the caller from ``Context.rng`` before the search:
a fixed seed gives the same decisions run to run.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from mdembed.core.errors import ConfigError
from mdembed.core.validate import set_whole

T_FLOOR = 1e-3  # below this temperature an uphill move is never taken in practice: stop
C = TypeVar("C")  # a candidate


class Schedule(Protocol):
    initial_temperature: float
    cooling: float  # geometric: T <- T x cooling after every move
    patience: int  # stop after this many moves without a new best


def check_schedule(settings: Any) -> None:
    """The checks both algorithms' settings share: temperature, cooling, iterations."""
    if not (math.isfinite(settings.initial_temperature) and settings.initial_temperature > 0):
        raise ConfigError(f"algorithm.initial_temperature must be positive, got {settings.initial_temperature}")
    if not 0 < settings.cooling < 1:
        raise ConfigError(f"algorithm.cooling must lie in (0, 1), got {settings.cooling}")
    set_whole(settings, "algorithm", "iterations")


def metropolis(delta: float, temperature: float, u: float) -> bool:
    """Accept a move that changes the energy by ``delta`` (lower is better)."""
    return delta <= 0 or u < math.exp(-delta / temperature)


def anneal(
    first: C, propose: Callable[[int, C], C], evaluate: Callable[[C], tuple[float, Any]], coins: list[float],
    schedule: Schedule, done: Callable[[float], bool],
) -> tuple[C, float, Any]:
    """The best candidate evaluated: (candidate, energy, what ``evaluate`` returned beside the energy).

    Move ``i`` evaluates ``propose(i, current)`` and takes it when the Metropolis
    rule, with the uniform draw ``coins[i]``, accepts it: at most one move per coin.
    """
    current = first
    energy, details = evaluate(first)
    best = (first, energy, details)
    temperature, stale = schedule.initial_temperature, 0
    for i, coin in enumerate(coins):
        if done(best[1]) or temperature < T_FLOOR or stale >= schedule.patience:
            break
        proposal = propose(i, current)
        new, new_details = evaluate(proposal)
        if metropolis(new - energy, temperature, coin):
            current, energy = proposal, new
        if new < best[1] - 1e-12:  # only a taken move can be one: it lies below the current energy
            best, stale = (proposal, new, new_details), 0
        else:
            stale += 1
        temperature *= schedule.cooling
    return best
