"""The benchmark's parts run and return figures of the right kind (speed itself is never asserted in a test)."""

from __future__ import annotations

import math

from mdembed import bench


def test_training_split_times_an_update_and_an_env_step_apart():
    update_ms, env_ms = bench.training_split(40, prices="node")
    assert math.isfinite(update_ms) and update_ms > 0
    assert math.isfinite(env_ms) and env_ms > 0


def test_import_time_is_a_positive_number_of_seconds():
    assert bench.import_time("mdembed.core.errors", 1) > 0


def test_devices_are_the_cpu_and_the_gpu_torch_sees():
    import torch

    assert bench._devices() == (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])


def test_training_rate_runs_every_learner_it_names():
    for overrides in (bench.LEARNERS["ddpg_element"], bench.LEARNERS["ppo_element"]):
        assert bench.training_rate(40, 1, overrides) > 0
