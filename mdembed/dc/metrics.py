"""Per-window rows of the data-centre scenario's metrics.csv and its per-policy summary.

Definitions (columns of metrics.csv; the summary uses the same names over a whole evaluation):

- ``phase`` ``train`` | ``eval``; ``policy`` ``dqn`` or a rule of
  :mod:`mdembed.dc.rules` (``autoscaler``, ``predictive``, ``static_mean``,
  ``static_peak``);
  ``window`` its index within (phase, policy); ``steps`` steps done at the
  window's end; ``episode`` (train) the episode it ends in; ``epsilon``
  (train) the exploration rate of its last step.
- ``arrived``, ``served``, ``satisfied`` (served within the latency
  budget), ``sla_violations`` (served over it), ``dropped`` (budget ran out
  while pending), ``invalid_actions``, ``unnecessary_uninstalls``: counts.
- ``acceptance_rate``: served / (served + dropped), i.e. over the requests
  whose fate was decided (requests still pending at the end are left out).
- ``sla_violation_rate``: SLA violations / served.
- ``resource_utilization``: the share of the DC's CPU, memory and bandwidth
  held by installed (running or booting) instances, mean of the three,
  averaged over steps. This is the "resource use" of DESIGN 7.
- ``instance_efficiency``: load carried / capacity of running instances,
  averaged over steps (the quantity of the +0.3 reward term).
- ``e2e_delay_ms_mean``, ``e2e_delay_ms_p95``: end-to-end delay (queueing +
  processing) of the chains served in the window.
- ``instances``: installed instances, averaged over steps.
- ``allocate_share``, ``uninstall_share``, ``wait_share``: the action mix,
  the share of the window's steps whose action had each op (valid or not).
- ``reward``: the environment's reward summed over the window.
- Training diagnostics (train rows), means over the window's updates (NaN
  without one): ``loss`` the TD loss, ``q_mean`` the online Q of the
  sampled actions, ``td_abs`` the mean |TD error|, ``grad_norm`` the
  gradient norm before clipping.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

COUNTS = ("arrived", "served", "satisfied", "sla_violations", "dropped", "invalid", "unnecessary_uninstall")
OPS = ("allocate", "uninstall", "wait")  # the action's op, in env.OPS order
DIAGNOSTICS = ("loss", "q_mean", "td_abs", "grad_norm")  # what a DQN update reports
RENAMED = {"invalid": "invalid_actions", "unnecessary_uninstall": "unnecessary_uninstalls"}


def _ratio(num: float, den: float) -> float | None:
    """num / den; None (null in summary.json) where it is undefined: NaN is kept for results gone wrong."""
    return float(num / den) if den else None


class DCRecorder:
    """Accumulates steps into windows of ``window`` steps; keeps every delay for the run's percentiles."""

    def __init__(self, window: int, phase: str, policy: str) -> None:
        self.window = window
        self.phase = phase
        self.policy = policy
        self.rows: list[dict[str, Any]] = []
        self.steps = 0
        self.totals = self._empty()
        self.delays: list[float] = []  # every served chain's, for the summary
        self._open()

    @staticmethod
    def _empty() -> dict[str, float]:
        return {**dict.fromkeys(COUNTS, 0), **dict.fromkeys(OPS, 0), "utilization": 0.0, "efficiency": 0.0,
                "instances": 0.0, "reward": 0.0, "steps": 0}  # fmt: skip

    def _open(self) -> None:
        self.current = self._empty()
        self.current_delays: list[float] = []
        self.diagnostics: dict[str, list[float]] = {key: [] for key in DIAGNOSTICS}
        self.extra: dict[str, Any] = {}

    def record(self, info: dict[str, Any], reward: float, diagnostics: dict[str, float] | None = None, **extra: Any) -> None:
        """One environment step: its ``info``, reward, the update's diagnostics, and columns such as epsilon and episode."""
        op = OPS[info["action_op"]]
        for acc in (self.current, self.totals):
            for key in COUNTS:
                acc[key] += info[key]
            acc[op] += 1
            acc["utilization"] += info["utilization"]
            acc["efficiency"] += info["efficiency"]
            acc["instances"] += info["instances"]
            acc["reward"] += reward
            acc["steps"] += 1
        self.current_delays.extend(info["delays_ms"])
        self.delays.extend(info["delays_ms"])
        for key, value in (diagnostics or {}).items():
            self.diagnostics[key].append(value)
        self.extra = extra
        self.steps += 1
        if self.current["steps"] == self.window:
            self.close_window()

    def close_window(self) -> None:
        """End the current window (also at the end of a run); an empty window writes no row."""
        if self.current["steps"]:
            row = {"phase": self.phase, "policy": self.policy, "window": len(self.rows), "steps": self.steps, **self.extra}
            row.update(self._metrics(self.current, self.current_delays))
            if self.phase == "train":
                row.update({key: float(np.mean(v)) if v else float("nan") for key, v in self.diagnostics.items()})
            self.rows.append(row)
        self._open()

    @staticmethod
    def _metrics(acc: dict[str, float], delays: list[float]) -> dict[str, float]:
        n = acc["steps"]
        out = {RENAMED.get(k, k): int(acc[k]) for k in COUNTS}
        out.update(
            acceptance_rate=_ratio(acc["served"], acc["served"] + acc["dropped"]),
            sla_violation_rate=_ratio(acc["sla_violations"], acc["served"]),
            resource_utilization=acc["utilization"] / n,
            instance_efficiency=acc["efficiency"] / n,
            e2e_delay_ms_mean=float(np.mean(delays)) if delays else None,
            e2e_delay_ms_p95=float(np.percentile(delays, 95)) if delays else None,
            instances=acc["instances"] / n,
            **{f"{op}_share": acc.get(op, 0) / n for op in OPS},
            reward=acc["reward"],
        )
        return out

    @property
    def acceptance(self) -> float:
        """Acceptance rate over every step so far (cheap: for progress bars)."""
        return _ratio(self.totals["served"], self.totals["served"] + self.totals["dropped"]) or 0.0

    def summary(self) -> dict[str, float]:
        """The metrics over every step recorded so far, plus the reward per step."""
        out = self._metrics(self.totals, self.delays)
        out["steps"] = int(self.totals["steps"])
        out["reward_per_step"] = _ratio(out.pop("reward"), self.totals["steps"])
        return out

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)

    def state_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "steps": self.steps, "totals": self.totals, "delays": self.delays,
                "current": self.current, "current_delays": self.current_delays, "diagnostics": self.diagnostics,
                "extra": self.extra}  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rows = [dict(r) for r in state["rows"]]
        self.steps = int(state["steps"])
        self.totals = dict(state["totals"])
        self.delays = list(state["delays"])
        self.current = dict(state["current"])
        self.current_delays = list(state["current_delays"])
        self.diagnostics = {key: list(v) for key, v in state["diagnostics"].items()}
        self.extra = dict(state["extra"])
