"""ResNet-style CIFAR networks by base width, and a packed variant that trains K of them at once.

The architecture is the CIFAR ResNet of He et al. (2016): a 3x3 stem, three stages of basic blocks
with widths w, 2w, 4w (stride 2 between stages), global average pooling and a linear layer. Depth
counts weighted layers, ``depth = 6 * blocks + 2`` (8, 14, 20, ...).

Packing: K models of the same shape become one network whose every convolution has ``groups=K``.
Model k owns channels ``[k*c, (k+1)*c)`` of every layer, so a grouped convolution is exactly K
separate convolutions, a ``BatchNorm2d`` over the K*c channels keeps each model's statistics apart,
and the classifier is a batched matrix product. A pack is built from K ordinary models (each
initialised from its own seed) by concatenating their weights, so a packed run starts where the K
single runs would, and because the K losses are summed, each model receives exactly its own gradient.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

# ----------------------------------------------------------------------------------------------
# Building blocks (k = number of packed models; k = 1 is an ordinary network)


def _conv(k: int, cin: int, cout: int, size: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(k * cin, k * cout, size, stride=stride, padding=size // 2, groups=k, bias=False)


class Block(nn.Module):
    """Basic residual block: conv-BN-ReLU-conv-BN plus a (1x1 conv-BN) shortcut when the shape changes."""

    def __init__(self, k: int, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = _conv(k, cin, cout, 3, stride), nn.BatchNorm2d(k * cout)
        self.conv2, self.bn2 = _conv(k, cout, cout, 3), nn.BatchNorm2d(k * cout)
        reshape = stride != 1 or cin != cout
        self.shortcut = nn.Sequential(_conv(k, cin, cout, 1, stride), nn.BatchNorm2d(k * cout)) if reshape else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.shortcut is None else self.shortcut(x)))


def blocks_per_stage(depth: int) -> int:
    """``(depth - 2) / 6``; depths that are not 6b + 2 are refused.

    Examples
    --------
    >>> blocks_per_stage(20)
    3
    """
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"depth must be 6*b + 2 with b >= 1 (8, 14, 20, ...), got {depth}")
    return (depth - 2) // 6


# ----------------------------------------------------------------------------------------------
# Networks


class PackedResNet(nn.Module):
    """K CIFAR ResNets in one module: input ``(B, K*C, H, W)`` (model k reads channels k*C..), output
    ``(B, K, classes)``.

    Examples
    --------
    >>> net = PackedResNet(k=3, width=16, depth=8)
    >>> net(torch.zeros(2, 9, 32, 32)).shape
    torch.Size([2, 3, 10])
    """

    def __init__(self, k: int, width: int, depth: int = 8, in_channels: int = 3, num_classes: int = 10) -> None:
        super().__init__()
        self.k, self.width, self.depth = k, width, depth
        self.in_channels, self.num_classes = in_channels, num_classes
        b = blocks_per_stage(depth)
        self.stem = nn.Sequential(_conv(k, in_channels, width, 3), nn.BatchNorm2d(k * width), nn.ReLU())
        widths = [width, width, 2 * width, 4 * width]
        stages = [
            Block(k, widths[s] if i == 0 else widths[s + 1], widths[s + 1], 2 if (i == 0 and s > 0) else 1)
            for s in range(3)
            for i in range(b)
        ]
        self.blocks = nn.Sequential(*stages)
        self.fc_weight = nn.Parameter(torch.empty(k, num_classes, 4 * width))
        self.fc_bias = nn.Parameter(torch.empty(k, num_classes))
        bound = 1 / math.sqrt(4 * width)  # nn.Linear's default initialisation
        nn.init.uniform_(self.fc_weight, -bound, bound)
        nn.init.uniform_(self.fc_bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.blocks(self.stem(x)).mean(dim=(2, 3)).view(x.shape[0], self.k, -1)
        return torch.einsum("bkf,kcf->bkc", feats, self.fc_weight) + self.fc_bias


class ResNet(PackedResNet):
    """One CIFAR ResNet: input ``(B, C, H, W)``, output ``(B, classes)``.

    Examples
    --------
    >>> ResNet(width=16, depth=8)(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """

    def __init__(self, width: int, depth: int = 8, in_channels: int = 3, num_classes: int = 10) -> None:
        super().__init__(1, width, depth, in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x)[:, 0]


def count_params(model: nn.Module) -> int:
    """Trainable parameters of one model (of a pack: per member).

    Examples
    --------
    >>> count_params(ResNet(16, 8)) == count_params(PackedResNet(4, 16, 8))
    True
    """
    total = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total // getattr(model, "k", 1)


def build(seed: int, width: int, depth: int, in_channels: int = 3, num_classes: int = 10) -> ResNet:
    """A ResNet initialised from ``seed`` without touching the global random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ResNet(width, depth, in_channels, num_classes)


# ----------------------------------------------------------------------------------------------
# Packing and unpacking


def pack(models: list[ResNet]) -> PackedResNet:
    """Concatenate K same-shaped ResNets into one :class:`PackedResNet` (weights copied exactly).

    Examples
    --------
    >>> nets = [build(s, 16, 8) for s in (1, 2)]
    >>> x = torch.randn(4, 3, 32, 32)
    >>> _ = [n.eval() for n in nets]; packed = pack(nets).eval()
    >>> torch.allclose(packed(torch.cat([x, x], 1))[:, 1], nets[1](x), atol=1e-5)
    True
    """
    first = models[0]
    packed = PackedResNet(len(models), first.width, first.depth, first.in_channels, first.num_classes)
    states = [m.state_dict() for m in models]
    merged = {key: _merge(key, [s[key] for s in states]) for key in states[0]}
    packed.load_state_dict(merged)
    return packed


def _merge(key: str, tensors: list[torch.Tensor]) -> torch.Tensor:
    if key.endswith("num_batches_tracked"):
        return tensors[0]
    return torch.cat(tensors, dim=0)


def unpack(packed: PackedResNet) -> list[ResNet]:
    """The K members of a pack as separate ResNets (the inverse of :func:`pack`).

    Examples
    --------
    >>> nets = unpack(PackedResNet(k=3, width=16))
    >>> len(nets), nets[0].stem[0].weight.shape
    (3, torch.Size([16, 3, 3, 3]))
    """
    state = packed.state_dict()
    members = []
    for i in range(packed.k):
        net = ResNet(packed.width, packed.depth, packed.in_channels, packed.num_classes)
        net.load_state_dict({key: _slice(key, value, i, packed.k) for key, value in state.items()})
        members.append(net)
    return members


def _slice(key: str, value: torch.Tensor, i: int, k: int) -> torch.Tensor:
    if key.endswith("num_batches_tracked"):
        return value
    size = value.shape[0] // k
    return value[i * size : (i + 1) * size]
