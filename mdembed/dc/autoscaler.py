"""The baseline: a reactive threshold autoscaler on the same 15 actions as the DQN (DESIGN 7).

Each step, in this order:

- scale out: a type whose pending demand (Mbit/s of the pending requests
  that need it) exceeds its free instance capacity, counting instances still
  booting as capacity on its way, gets one more instance; with several such
  types, the one with the largest shortfall that still fits in the DC;
- scale in: otherwise, a type that has had an idle instance (its load fits
  on its other running instances), no pending demand and more than
  ``min_instances`` running instances for ``idle_steps`` steps in a row
  loses one instance (the longest idle first);
- otherwise wait.

One action per step, like the agent. It reads the environment's state (the
same quantities the observation carries), never the future workload.
"""

from __future__ import annotations

import numpy as np

from mdembed.dc.env import ALLOCATE, UNINSTALL, WAIT, DataCentreEnv
from mdembed.dc.settings import NUM_TYPES


class ThresholdAutoscaler:
    def __init__(self, idle_steps: int, min_instances: int) -> None:
        self.idle_steps = idle_steps
        self.min_instances = min_instances
        self.idle = np.zeros(NUM_TYPES, dtype=np.int64)

    def reset(self) -> None:
        self.idle[:] = 0

    def act(self, env: DataCentreEnv) -> int:
        demand = env.pending_demand()
        coming = env.free_capacity() + env.booting_counts() * env.instance_capacity
        shortfall = demand - coming
        idle = np.array([env.can_uninstall(k) and demand[k] == 0 and env.running[k] > self.min_instances for k in range(NUM_TYPES)])
        self.idle = np.where(idle, self.idle + 1, 0)
        for k in np.argsort(-shortfall, kind="stable"):
            if shortfall[k] <= 0:
                break
            if env.can_allocate(int(k)):
                return 3 * int(k) + ALLOCATE
        ready = np.flatnonzero(self.idle >= self.idle_steps)
        if ready.size:
            k = int(ready[np.argmax(self.idle[ready])])
            self.idle[k] = 0
            return 3 * k + UNINSTALL
        return WAIT  # 3 * 0 + WAIT: waiting is the same whichever type it names
