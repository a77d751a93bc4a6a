"""The DDPG networks of D domains, stored stacked so one batched product runs all of them.

Every weight has a leading domain axis; a batched matrix product (or one
grouped convolution) computes the D domains' independent networks at once.
Inputs are (D, B, features): domain first, then the batch.

The critic's hidden layer reads [pooled conv features | own state | action].
Its weight is kept as the three row blocks of that concatenation
(:class:`SplitLinear`) and evaluated as ``pooled @ W_p + state @ W_s + b +
action @ W_a``: the same function as one product over the concatenation,
but the update computes the action-free part once for the critic's loss
and the actor's, and the critic's backward pass computes input gradients
for the conv features only.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from mdembed.env.layout import TENSOR_SIZE
from mdembed.workload.tensor import TENSOR_SHAPE

CONV_KERNELS = ((4, 4), (2, 2), (5, 5))  # the paper's critic


class StackedLinear(nn.Module):
    """D independent linear layers: (D, B, in) -> (D, B, out)."""

    def __init__(self, domains: int, in_features: int, out_features: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(in_features)
        self.weight = nn.Parameter(torch.empty(domains, in_features, out_features).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(domains, 1, out_features).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class StackedConv2d(nn.Module):
    """D independent 'same'-padded convolutions as one grouped convolution: (B, D*C_in, H, W) -> (B, D*C_out, H, W)."""

    def __init__(self, domains: int, in_channels: int, out_channels: int, kernel: tuple[int, int]) -> None:
        super().__init__()
        self.domains = domains
        bound = 1.0 / math.sqrt(in_channels * kernel[0] * kernel[1])
        self.weight = nn.Parameter(torch.empty(domains * out_channels, in_channels, *kernel).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(domains * out_channels).uniform_(-bound, bound))
        (kh, kw) = kernel  # 'same' padding; an even kernel gets the extra row/column after (as PyTorch does)
        self.padding = ((kw - 1) // 2, kw // 2, (kh - 1) // 2, kh // 2)
        self.symmetric = kh % 2 == 1 and kw % 2 == 1  # then the convolution pads by itself, without a copy

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.symmetric:
            return F.conv2d(x, self.weight, self.bias, padding=(self.padding[2], self.padding[0]), groups=self.domains)
        return F.conv2d(F.pad(x, self.padding), self.weight, self.bias, groups=self.domains)


class SplitLinear(nn.Module):
    """D independent linear layers over the concatenation of several inputs, the weight kept in row blocks.

    ``forward_parts`` adds the blocks' products one by one, so an input
    whose term is computed apart (or not needed in a gradient) costs
    nothing more. Initialized exactly as :class:`StackedLinear` over the
    whole input.
    """

    def __init__(self, domains: int, in_parts: tuple[int, ...], out_features: int) -> None:
        super().__init__()
        whole = StackedLinear(domains, sum(in_parts), out_features)
        blocks = torch.split(whole.weight.detach(), list(in_parts), dim=1)
        self.weights = nn.ParameterList([nn.Parameter(b.clone()) for b in blocks])
        self.bias = whole.bias

    def part(self, x: torch.Tensor, i: int, into: torch.Tensor | None = None) -> torch.Tensor:
        """``into + x @ W_i`` (the bias when ``into`` is None)."""
        return torch.baddbmm(self.bias if into is None else into, x, self.weights[i])

    def forward(self, *parts: torch.Tensor) -> torch.Tensor:
        out = None
        for i, x in enumerate(parts):
            out = self.part(x, i, out)
        return out

    def reference(self, *parts: torch.Tensor) -> torch.Tensor:
        """The textbook form: one product over the concatenated input (for tests)."""
        return torch.baddbmm(self.bias, torch.cat(parts, dim=-1), torch.cat(list(self.weights), dim=1))


def _normalized(x: torch.Tensor, layer_norm: bool) -> torch.Tensor:
    return F.layer_norm(x, x.shape[-1:]) if layer_norm else x


class Actor(nn.Module):
    """Observation -> 300 -> 300 -> normalized prices in [-1, 1], per domain.

    ``bounding="tanh"`` squashes the output layer's pre-activation (the
    paper's actor); ``"invert"`` clips it instead, and the learner inverts
    the action gradients that push beyond a bound (Hausknecht & Stone 2016),
    so an output at a bound still gets a gradient that can bring it back.
    """

    def __init__(self, domains: int, obs_dim: int, action_dim: int, hidden: int, bounding: str = "tanh",
                 layer_norm: bool = False) -> None:  # fmt: skip
        super().__init__()
        self.layers = nn.ModuleList(
            [StackedLinear(domains, obs_dim, hidden), StackedLinear(domains, hidden, hidden)]
        )
        self.out = StackedLinear(domains, hidden, action_dim)
        self.bounding = bounding
        self.layer_norm = layer_norm

    def preactivation(self, obs: torch.Tensor) -> torch.Tensor:
        """The output layer's value before bounding."""
        x = obs
        for layer in self.layers:
            x = F.relu(_normalized(layer(x), self.layer_norm))
        return self.out(x)

    def bound(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(z) if self.bounding == "tanh" else z.clamp(-1.0, 1.0)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.bound(self.preactivation(obs))


class Critic(nn.Module):
    """Q(observation, action) per domain: 3 convs on the request tensor, average pooling,
    then a 300-unit layer that also takes the own state and the action."""

    def __init__(self, domains: int, state_dim: int, action_dim: int, hidden: int, channels: tuple[int, int, int],
                 layer_norm: bool = False) -> None:  # fmt: skip
        super().__init__()
        self.domains = domains
        self.layer_norm = layer_norm
        rows, cols, depth = TENSOR_SHAPE
        sizes = (depth, *channels)
        self.convs = nn.ModuleList(
            [StackedConv2d(domains, sizes[i], sizes[i + 1], k) for i, k in enumerate(CONV_KERNELS)]
        ).to(memory_format=torch.channels_last)  # oneDNN's channels-last kernels are faster on 6x6 maps
        self.pooled_dim = channels[-1] * (rows // 2) * (cols // 2)
        self.state_dim = state_dim
        self.hidden = SplitLinear(domains, (self.pooled_dim, state_dim, action_dim), hidden)
        self.out = StackedLinear(domains, hidden, 1)

    def pooled(self, obs: torch.Tensor) -> torch.Tensor:
        """(D, B, pooled_dim): the request tensor's conv features, average-pooled, channel-major."""
        d, b, _ = obs.shape
        rows, cols, depth = TENSOR_SHAPE
        tensor = obs[..., :TENSOR_SIZE].reshape(d, b, rows, cols, depth)
        x = tensor.permute(1, 0, 4, 2, 3).reshape(b, d * depth, rows, cols)  # channels first, domains grouped
        x = x.contiguous(memory_format=torch.channels_last)
        for conv in self.convs:
            x = F.relu(conv(x))
        return F.avg_pool2d(x, 2).reshape(b, d, -1).transpose(0, 1)

    def own_state(self, obs: torch.Tensor) -> torch.Tensor:
        return obs[..., TENSOR_SIZE : TENSOR_SIZE + self.state_dim]

    def base(self, obs: torch.Tensor) -> torch.Tensor:
        """(D, B, hidden): the hidden layer's pre-activation without its action term."""
        return self.hidden.part(self.own_state(obs), 1, self.hidden.part(self.pooled(obs), 0))

    def head(self, base: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """(D, B) Q-values from :meth:`base` and the actions."""
        return self.out(F.relu(_normalized(self.hidden.part(action, 2, base), self.layer_norm))).squeeze(-1)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.head(self.base(obs), action)

    def reference(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """The same Q as :meth:`forward` in the textbook form: one product over the concatenated input."""
        hidden = self.hidden.reference(self.pooled(obs), self.own_state(obs), action)
        return self.out(F.relu(_normalized(hidden, self.layer_norm))).squeeze(-1)


def soft_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """target <- (1 - tau) * target + tau * source, as target + tau * (source - target): one pass over every parameter."""
    with torch.no_grad():
        torch._foreach_lerp_(list(target.parameters()), list(source.parameters()), tau)
