"""How the learners compute: the fast critic against the textbook one, the update's gradients against
plain DDPG, the compact replay state, the device setting, and torch staying out of static runs."""

from __future__ import annotations

import copy
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mdembed.agents.td3 import TD3
from mdembed.agents.ddpg_settings import DDPGSettings
from mdembed.agents.replay import ReplayBuffer
from mdembed.learning.device import resolve_device
from mdembed.agents.networks import CONV_KERNELS, Critic, SplitLinear, StackedLinear
from mdembed.market.build import make_substrate
from mdembed.settings import Settings, settings_from_config
from mdembed.env.layout import TENSOR_SIZE, DomainLayout
from mdembed.core.errors import ConfigError
from mdembed.run import compose
from mdembed.learning.transitions import TransitionBuffer
from mdembed.workload.tensor import TENSOR_SHAPE

NO_GPU = not torch.cuda.is_available()


@pytest.fixture(scope="module")
def layout():
    settings = settings_from_config(compose(["topology=abilene"]))
    return DomainLayout(make_substrate(settings.topology, settings.seed))


def reference_q(critic: Critic, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
    """Q of each domain computed domain by domain with torch's own 'same' convolution and average pooling."""
    rows, cols, depth = TENSOR_SHAPE
    out = []
    for d in range(critic.domains):
        x = obs[d, :, :TENSOR_SIZE].reshape(-1, rows, cols, depth).permute(0, 3, 1, 2)
        for conv in critic.convs:
            c_out = conv.weight.shape[0] // critic.domains
            weight = conv.weight[d * c_out : (d + 1) * c_out]
            x = F.relu(F.conv2d(x, weight, conv.bias[d * c_out : (d + 1) * c_out], padding="same"))
        pooled = F.avg_pool2d(x, 2).flatten(1)
        state = obs[d, :, TENSOR_SIZE : TENSOR_SIZE + critic.state_dim]
        features = torch.cat([pooled, state, action[d]], dim=1)
        weight = torch.cat([w[d] for w in critic.hidden.weights], dim=0)
        hidden = F.relu(features @ weight + critic.hidden.bias[d])
        out.append((hidden @ critic.out.weight[d] + critic.out.bias[d]).squeeze(-1))
    return torch.stack(out)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_critic_equals_per_domain_convolutions_to_float_tolerance():
    torch.manual_seed(0)
    critic = Critic(3, 20, 11, 64, (8, 16, 16))
    obs = torch.rand(3, 17, TENSOR_SIZE + 20)
    obs[..., :TENSOR_SIZE] *= torch.rand(3, 17, TENSOR_SIZE) < 0.4  # sparse, like a request tensor
    action = torch.rand(3, 17, 11) * 2 - 1
    expected = reference_q(critic, obs, action)
    assert torch.allclose(critic(obs, action), expected, rtol=1e-5, atol=1e-6)
    assert torch.allclose(critic.reference(obs, action), expected, rtol=1e-5, atol=1e-6)
    assert [tuple(c.weight.shape[-2:]) for c in critic.convs] == list(CONV_KERNELS)


def test_split_linear_starts_as_the_layer_over_the_concatenation():
    torch.manual_seed(3)
    whole = StackedLinear(2, 9, 5)
    torch.manual_seed(3)
    split = SplitLinear(2, (4, 3, 2), 5)
    assert torch.equal(torch.cat(list(split.weights), dim=1), whole.weight)
    assert torch.equal(split.bias, whole.bias)
    parts = [torch.randn(2, 6, n) for n in (4, 3, 2)]
    assert torch.allclose(split(*parts), whole(torch.cat(parts, dim=-1)), atol=1e-6)


def fill(learner: TD3, steps: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    obs = rng.random((learner.domains, learner.obs_dim), dtype=np.float32)
    for t in range(steps):
        next_obs = rng.random((learner.domains, learner.obs_dim), dtype=np.float32)
        action = learner.act(obs, explore=True)
        learner.buffer.add(obs, action, rng.random(learner.domains), next_obs, t % 7 == 6)
        obs = next_obs


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("twin", [False, True], ids=["ddpg", "twin_critics"])
def test_update_gradients_are_plain_ddpg(layout, twin):
    """The restructured update (shared critic features, split hidden layer) takes textbook DDPG's gradients
    (the paper's tanh actor and discount); with twin critics both regress on the smaller target estimate (TD3)."""
    settings = DDPGSettings(learning_starts=0, batch_size=16, gamma=0.99, bounding="tanh", twin_critics=twin)
    learner = TD3(layout, settings, seed=0)
    fill(learner, 40)
    batch = learner.buffer.sample(16, np.random.default_rng(4))
    before = copy.deepcopy(learner)
    s, mask = learner.settings, learner.action_mask
    with torch.no_grad():
        next_action = before.actor_target(batch["next_obs"]) * mask
        next_q = torch.stack([reference_q(c, batch["next_obs"], next_action) for c in before.critic_targets]).amin(0)
        target = batch["reward"] + s.gamma * (1 - batch["done"]) * next_q
    critic_loss = sum(((reference_q(c, batch["obs"], batch["action"] * mask) - target) ** 2).mean(1).sum()
                      for c in before.critics)  # fmt: skip
    critic_grads = torch.autograd.grad(critic_loss, list(before.critics.parameters()))
    actor_loss = -reference_q(before.critic, batch["obs"], before.actor(batch["obs"]) * mask).mean(1).sum()
    actor_grads = torch.autograd.grad(actor_loss, list(before.actor.parameters()))

    losses = learner.update(batch)
    assert losses["critic_loss"] == pytest.approx(critic_loss.item() / learner.domains, rel=1e-5)
    assert losses["actor_loss"] == pytest.approx(actor_loss.item() / learner.domains, rel=1e-5)
    for net, grads in ((learner.critics, critic_grads), (learner.actor, actor_grads)):
        for param, grad in zip(net.parameters(), grads):
            assert torch.allclose(param.grad, grad, rtol=1e-4, atol=1e-7)


def test_inverted_gradients_by_hand():
    from mdembed.agents.td3 import INVERT_EDGE, inverted

    edge = INVERT_EDGE
    grad = torch.tensor([-1.0, -1.0, 2.0, 2.0, -1.0])  # loss gradients: negative means the step raises the action
    action = torch.tensor([0.5, edge + 0.1, 0.0, -edge - 0.2, -edge])
    expected = [
        -1.0 * (edge - 0.5) / (2 * edge),  # room left up: a smaller step up
        -1.0 * (-0.1) / (2 * edge),  # past the upper edge: the step turns down
        2.0 * edge / (2 * edge),  # halfway: half the room down
        2.0 * (-0.2) / (2 * edge),  # past the lower edge: the step turns up
        -1.0,  # at the lower edge heading up: the whole range ahead
    ]
    assert inverted(grad, action).tolist() == pytest.approx(expected)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_inverted_gradients_and_preactivation_penalty_in_an_update(layout):
    """bounding=invert: the critic is asked at the unclipped output, its action gradient inverted at the
    edges; the pre-activation penalty adds its own gradient. With gamma=0 the target is the reward."""
    from mdembed.agents.td3 import inverted

    settings = DDPGSettings(learning_starts=0, batch_size=16, gamma=0.0, bounding="invert", preactivation_penalty=0.1)
    learner = TD3(layout, settings, seed=0)
    fill(learner, 40)
    batch = learner.buffer.sample(16, np.random.default_rng(4))
    before = copy.deepcopy(learner)
    mask = learner.action_mask
    critic_loss = ((reference_q(before.critic, batch["obs"], batch["action"] * mask) - batch["reward"]) ** 2).mean(1).sum()
    critic_grads = torch.autograd.grad(critic_loss, list(before.critic.parameters()))
    z = before.actor.preactivation(batch["obs"])
    action = z * mask
    q = reference_q(before.critic, batch["obs"], action)
    (grad,) = torch.autograd.grad(-q.mean(1).sum(), action, retain_graph=True)
    real = mask.sum(dim=(1, 2)) * z.shape[1]
    penalty = 0.1 * (((z * mask) ** 2).sum(dim=(1, 2)) / real).sum()
    actor_grads = torch.autograd.grad((action * inverted(grad, z).detach()).sum() + penalty, list(before.actor.parameters()))
    targets = [p.clone() for p in before.critic_target.parameters()]

    learner.update(batch)
    for net, grads in ((learner.critic, critic_grads), (learner.actor, actor_grads)):
        for param, grad in zip(net.parameters(), grads):
            assert torch.allclose(param.grad, grad, rtol=1e-4, atol=1e-7)
    assert all(torch.equal(a, b) for a, b in zip(targets, learner.critic_target.parameters()))  # no target at gamma=0
    assert learner.act(np.full((learner.domains, learner.obs_dim), 1e4, np.float32), False).max() <= 1.0  # clipped


def test_reward_normalization_divides_by_the_running_std(layout):
    learner = TD3(layout, DDPGSettings(reward_norm=True, reward_scale=0.5, learning_starts=100), seed=0)
    obs = np.zeros((learner.domains, learner.obs_dim), np.float32)
    for reward in ([2.0, 0.0, 4.0], [6.0, 0.0, 4.0], [4.0, 0.0, 4.0]):
        learner.observe(obs, learner.act(obs, True), np.array(reward), obs, False)
    # scaled rewards: domain 0 sees 1, 3, 2 (sample std 1); domain 1 never varies (left as is); domain 2 neither
    assert learner.reward_std[:, 0].tolist() == pytest.approx([1.0, 1.0, 1.0])
    learner.observe(obs, learner.act(obs, True), np.array([10.0, 0.0, 4.0]), obs, False)  # domain 0: 1, 3, 2, 5
    assert learner.reward_std[0, 0].item() == pytest.approx(np.std([1, 3, 2, 5], ddof=1), rel=1e-6)


def test_policy_delay_updates_the_actor_every_other_step(layout):
    learner = TD3(layout, DDPGSettings(learning_starts=0, batch_size=8, policy_delay=2, gamma=0.9), seed=0)
    fill(learner, 20)
    moved = []
    for _ in range(4):
        before = [p.clone() for p in learner.actor.parameters()]
        learner.update(learner.buffer.sample(8, learner.rng))
        moved.append(not all(torch.equal(a, b) for a, b in zip(before, learner.actor.parameters())))
    assert moved == [True, False, True, False]


def test_replay_state_is_compact_and_restores_exactly(layout):
    learner = TD3(layout, DDPGSettings(buffer_size=50), seed=0)
    rng = np.random.default_rng(0)
    obs = layout.stack([rng.random(n, dtype=np.float32) for n in layout.obs_dims])
    obs[:, :TENSOR_SIZE] = obs[0, :TENSOR_SIZE]  # every domain sees the same request
    for t in range(73):  # wraps around; every 10th step ends an episode (next obs not the following obs)
        nxt = layout.stack([rng.random(n, dtype=np.float32) for n in layout.obs_dims])
        nxt[:, :TENSOR_SIZE] = nxt[0, :TENSOR_SIZE]
        learner.buffer.add(obs, learner.act(obs, True), rng.random(layout.num_domains), nxt, t % 10 == 9)
        obs = layout.stack([rng.random(n, dtype=np.float32) for n in layout.obs_dims]) if t % 10 == 9 else nxt
        if t % 10 == 9:
            obs[:, :TENSOR_SIZE] = obs[0, :TENSOR_SIZE]
    state = learner.buffer.state_dict()
    assert int(state["next_obs_linked"].sum()) == 50 - 1 - 5  # all but the newest and the episode ends
    assert "own" in state["obs"] and "own" in state["action"]  # packed, not saved whole
    saved = sum(t.numel() * t.element_size() for part in ("obs", "next_obs_own", "action") for t in state[part].values())
    whole = 50 * (2 * learner.buffer.obs[0].numel() + learner.buffer.action[0].numel()) * 4
    assert saved < 0.45 * whole
    restored = ReplayBuffer(50, layout.num_domains, learner.obs_dim, learner.action_dim,
                            obs_dims=layout.obs_dims, action_dims=layout.action_dims)  # fmt: skip
    restored.load_state_dict(state)
    for key in ("obs", "next_obs", "action", "reward", "done"):
        assert torch.equal(getattr(restored, key), getattr(learner.buffer, key)), key
    assert (restored.size, restored.position) == (learner.buffer.size, learner.buffer.position)


def test_a_buffer_filled_by_hand_is_saved_whole_and_still_exact():
    buffer = ReplayBuffer(4, 2, TENSOR_SIZE + 3, 2, obs_dims=[TENSOR_SIZE + 3, TENSOR_SIZE + 1], action_dims=[2, 1])
    rng = np.random.default_rng(1)
    for _ in range(3):  # padding not zero and requests that differ between domains
        buffer.add(rng.random((2, TENSOR_SIZE + 3)), rng.random((2, 2)), rng.random(2), rng.random((2, TENSOR_SIZE + 3)), False)
    state = buffer.state_dict()
    assert "whole" in state["obs"] and "whole" in state["action"]
    again = ReplayBuffer(4, 2, TENSOR_SIZE + 3, 2, obs_dims=[TENSOR_SIZE + 3, TENSOR_SIZE + 1], action_dims=[2, 1])
    again.load_state_dict(state)
    assert all(torch.equal(getattr(again, k), getattr(buffer, k)) for k in ("obs", "next_obs", "action"))


def test_empty_and_unlinked_buffers_round_trip():
    for steps in (0, 1, 5):
        buffer = TransitionBuffer(3, (2,))
        for i in range(steps):
            buffer.add(np.full(2, i), 0.0, float(i), np.full(2, 100 + i), False)  # never linked
        again = TransitionBuffer(3, (2,))
        again.load_state_dict(buffer.state_dict())
        assert torch.equal(again.next_obs, buffer.next_obs) and again.size == buffer.size


def test_device_names_are_checked_before_anything_is_built():
    for bad in ("gpu", "cuda:x", "CPU", ""):
        with pytest.raises(ConfigError, match="device must be"):
            Settings(device=bad)
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(not NO_GPU, reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_a_one_line_error(tmp_path):
    with pytest.raises(ConfigError, match="needs a CUDA GPU"):
        resolve_device("cuda")
    for scenario in (["experiment=smoke", "algorithm=ddpg"], ["experiment=dc_provisioning"]):
        result = subprocess.run(
            [sys.executable, "-m", "mdembed.run", *scenario, "device=cuda", f"hydra.run.dir={tmp_path / 'run'}"],
            capture_output=True, text=True,
        )  # fmt: skip
        assert result.returncode == 2
        assert result.stderr.strip().splitlines() == [
            "mdembed: error: device=cuda needs a CUDA GPU and torch sees none (torch.cuda.is_available() is false); "
            "use device=cpu or device=auto"
        ]
        assert not (tmp_path / "run" / "summary.json").exists()


def test_learners_keep_everything_on_their_device(layout):
    from mdembed.dc.experiment import make_agent
    from mdembed.dc.settings import DCSettings

    learner = TD3(layout, DDPGSettings(), seed=0, device="cpu")
    tensors = [*learner.actor.parameters(), *learner.critic_target.parameters(), learner.buffer.obs, learner.action_mask]
    assert {t.device for t in tensors} == {torch.device("cpu")}
    agent = make_agent(DCSettings(), seed=0, device=resolve_device("auto"))
    expected = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert {p.device.type for p in agent.online.parameters()} == {expected.type}
    assert agent.replay.obs.device.type == expected.type


@pytest.mark.skipif(NO_GPU, reason="needs a CUDA GPU")
def test_cuda_learner_follows_the_cpu_one(layout):
    """On a GPU the graphed update trains the same networks as the CPU (to rounding) and keeps going."""
    settings = DDPGSettings(learning_starts=8, batch_size=8)
    learners = [TD3(layout, settings, seed=0, device=d) for d in ("cpu", "cuda")]
    rng = np.random.default_rng(0)
    for _ in range(30):
        obs = rng.random((learners[0].domains, learners[0].obs_dim), dtype=np.float32)
        reward, next_obs = rng.random(learners[0].domains), rng.random(obs.shape, dtype=np.float32)
        actions = [learner.act(obs, explore=True) for learner in learners]
        assert np.allclose(actions[0], actions[1], atol=1e-3)
        for learner in learners:
            learner.observe(obs, actions[0], reward, next_obs, False)
    assert learners[1]._graph is not None
    for a, b in zip(learners[0].actor.parameters(), learners[1].actor.parameters()):
        assert torch.allclose(a, b.cpu(), atol=1e-3)
    assert learners[1].diagnostics()["critic_loss"] == pytest.approx(learners[0].diagnostics()["critic_loss"], rel=1e-2)


def test_a_static_baseline_run_does_not_import_torch():
    code = "import sys, mdembed.run, mdembed.market.run; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_window_diagnostics_measure_saturation_and_the_actors_gradient(layout):
    learner = TD3(layout, DDPGSettings(learning_starts=0, batch_size=8, bounding="tanh"), seed=0)
    fill(learner, 20)
    with torch.no_grad():  # a saturated actor: every price at the upper bound, whatever the observation
        learner.actor.out.weight.zero_()
        learner.actor.out.bias.fill_(10.0)
    batch = learner.buffer.sample(8, np.random.default_rng(0))
    before = copy.deepcopy(learner)
    action = (before.actor(batch["obs"]) * before.action_mask).requires_grad_(True)
    q = reference_q(before.critic, batch["obs"], action)
    (dq_da,) = torch.autograd.grad(q.sum(), action)
    batch_q = reference_q(before.critic, batch["obs"], batch["action"] * before.action_mask)  # the stored actions
    learner.update(batch)
    figures = learner.diagnostics()
    for d, dim in enumerate(layout.action_dims):
        assert figures[f"domain{d}_at_bounds"] == 1.0
        assert figures[f"domain{d}_dq_da"] == pytest.approx(dq_da[d, :, :dim].abs().mean().item(), rel=1e-4)
        assert figures[f"domain{d}_dq_dz"] < 1e-6 * figures[f"domain{d}_dq_da"]  # the saturated tanh passes nothing
        assert figures[f"domain{d}_q"] == pytest.approx(batch_q[d].mean().item(), rel=1e-4)
    assert np.mean([figures[f"domain{d}_critic_loss"] for d in range(layout.num_domains)]) == pytest.approx(
        figures["critic_loss"], rel=1e-5
    )
    with torch.no_grad():  # an actor in the middle of the range
        learner.actor.out.bias.zero_()
    learner.update(batch)
    assert all(learner.diagnostics()[f"domain{d}_at_bounds"] == 0.0 for d in range(layout.num_domains))
    assert learner.diagnostics()["domain0_at_bounds"] == 0.0  # no update since: the last window's figures again
