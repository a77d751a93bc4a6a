"""What the training loop drives (a :class:`Learner`) and what it drives it against (a scenario's
:class:`TrainingTask`): the two sides every learner and every scenario implement."""

from __future__ import annotations

from typing import Any, Mapping, Protocol, runtime_checkable

import pandas as pd


@runtime_checkable
class Learner(Protocol):
    """What the training loop drives: act, learn from each transition, save and restore, report.

    Observations and actions are the learner's own arrays; a scenario's
    training task converts them to and from its environment's.
    """

    def act(self, obs: Any, explore: bool) -> Any:
        """The action for ``obs``; ``explore=False`` is the policy evaluated."""

    def observe(self, obs: Any, action: Any, reward: Any, next_obs: Any, terminated: bool) -> dict[str, float] | None:
        """Learn from one transition; the losses when it updated, else None."""

    def diagnostics(self) -> dict[str, float]:
        """The learner's own health figures now (losses, exploration, update count), recorded per window."""

    def state_dict(self) -> dict[str, Any]:
        """Everything to continue training exactly (networks, optimizers, replay buffer, random states)."""

    def load_state_dict(self, state: dict[str, Any]) -> None: ...

    def policy_state_dict(self) -> dict[str, Any]:
        """What the evaluated policy needs, nothing more (policy.pt)."""

    def load_policy_state_dict(self, state: dict[str, Any]) -> None: ...


class TrainingTask(Protocol):
    """A scenario's training environment as the loop sees it.

    The task owns the environment and the metrics recorder, converts the
    learner's actions and observations to and from the environment's, and
    says when a checkpoint is due.
    """

    scenario: str
    total_steps: int
    fingerprint: str | None  # what a saved learner must have been trained on (e.g. the substrate); None: no check
    rows: list[dict[str, Any]]  # the metrics windows closed so far

    @property
    def position(self) -> int:
        """Steps done."""

    def observation(self) -> Any:
        """What the learner acts on now."""

    def step(self, action: Any) -> tuple[Any, Any, bool]:
        """Apply the learner's action: the next observation, the reward and whether the state is terminal."""

    def record(self, losses: Mapping[str, float] | None) -> None:
        """Record the last step (and close the metrics window it ends)."""

    def checkpoint_due(self) -> bool: ...

    def status(self) -> dict[str, str]:
        """Fields for the progress bar."""

    def summary(self) -> dict[str, Any]:
        """The task's own lines of the training summary."""

    def table(self) -> pd.DataFrame: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any], position: int) -> None: ...

    def close(self) -> None: ...
