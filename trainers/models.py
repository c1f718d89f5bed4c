"""ResNet-style CIFAR networks by base width, and three ways to train K of them at once.

The architecture is the CIFAR ResNet of He et al. (2016): a 3x3 stem, three stages of basic blocks
with widths w, 2w, 4w (stride 2 between stages), global average pooling and a linear layer. Depth
counts weighted layers, ``depth = 6 * blocks + 2`` (8, 14, 20, ...).

Packing routes. Every pack takes the K members' own batches stacked as ``(K, B, C, H, W)`` in
``forward_stacked`` and returns ``(B, K, classes)``; :func:`pack` builds one by name:

- ``grouped`` (:class:`PackedResNet`): every convolution has ``groups=K`` and model k owns channels
  ``[k*c, (k+1)*c)`` of every layer, so a grouped convolution is exactly K separate convolutions, a
  ``BatchNorm2d`` over the K*c channels keeps each model's statistics apart, and the classifier is a
  batched matrix product.
- ``vmap`` (:class:`VmapPack`): the K models' weights stacked by ``torch.func.stack_module_state``
  and one ResNet's forward mapped over them with ``torch.vmap`` and ``torch.func.functional_call``
  (PyTorch's model-ensembling recipe). vmap's rule for a convolution whose input and weight are both
  batched folds the K models into the channels and calls a grouped convolution, so on a GPU this
  route runs the same kind of convolution kernel as ``grouped``; it differs in how weights are laid
  out and how BatchNorm and the classifier are batched.
- ``loop`` (:class:`LoopPack`): the K models kept apart and run one after another in each step:
  plain (ungrouped) convolutions, K times the kernel launches, one optimizer for all.

Whatever the route, a pack is built from K ordinary models (each initialised from its own seed), so
it starts where the K single runs would, and the K losses are summed, so each model receives exactly
its own gradient.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

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

    def forward_stacked(self, x: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
        """K batches ``(K, B, C, H, W)`` to logits ``(B, K, classes)`` (the members' channels side by side)."""
        return PackedResNet.forward(self, side_by_side(x, channels_last))


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
# The other two routes


def side_by_side(x: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
    """``(K, B, C, H, W)`` to ``(B, K*C, H, W)``: model k's channels at ``[k*C, (k+1)*C)``, in one copy.

    With ``channels_last`` the copy is laid out channels-last (the layout cuDNN prefers under bf16).

    Parameters
    ----------
    x : torch.Tensor
        The K members' batches, ``(K, B, C, H, W)``.
    channels_last : bool
        Lay the result out channels-last.

    Returns
    -------
    torch.Tensor
        ``(B, K*C, H, W)``.

    Examples
    --------
    >>> x = torch.arange(2 * 1 * 3 * 1 * 1.).view(2, 1, 3, 1, 1)
    >>> side_by_side(x).flatten().tolist()
    [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    >>> side_by_side(x, channels_last=True).is_contiguous(memory_format=torch.channels_last)
    True
    """
    k, b, c, h, w = x.shape
    if channels_last:
        return x.permute(1, 3, 4, 0, 2).reshape(b, h, w, k * c).permute(0, 3, 1, 2)
    return x.transpose(0, 1).reshape(b, k * c, h, w)


class VmapPack(nn.Module):
    """K ResNets as stacked weights, run by ``torch.vmap`` over one ResNet's ``functional_call``.

    Parameters and buffers keep the ResNet's names with ``-`` for ``.`` and a leading axis of K.

    Examples
    --------
    >>> net = VmapPack([ResNet(16), ResNet(16)])
    >>> net.forward_stacked(torch.zeros(2, 4, 3, 32, 32)).shape, tuple(net.get_parameter("stem-0-weight").shape)
    (torch.Size([4, 2, 10]), (2, 16, 3, 3, 3))
    """

    def __init__(self, models: list[ResNet]) -> None:
        super().__init__()
        first = models[0]
        self.k, self.width, self.depth = len(models), first.width, first.depth
        self.in_channels, self.num_classes = first.in_channels, first.num_classes
        params, buffers = torch.func.stack_module_state(models)
        self.param_names, self.buffer_names = tuple(params), tuple(buffers)
        for name, value in params.items():
            self.register_parameter(_flat(name), nn.Parameter(value.detach().clone()))
        for name, value in buffers.items():
            self.register_buffer(_flat(name), value.clone())
        self._template = [copy.deepcopy(first).to("meta")]  # in a list: not a submodule, owns no weights

    def forward_stacked(self, x: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
        """K batches ``(K, B, C, H, W)`` to logits ``(B, K, classes)``.

        With ``channels_last`` the batches are first laid out as the grouped route lays them out, so
        the grouped convolution that vmap calls reads channels-last memory.
        """
        if channels_last:
            k, b, c, h, w = x.shape
            x = side_by_side(x, True).view(b, k, c, h, w).transpose(0, 1)
        template = self._template[0].train(self.training)
        params = {n: self.get_parameter(_flat(n)) for n in self.param_names}
        buffers = {n: self.get_buffer(_flat(n)) for n in self.buffer_names}

        def one(p: dict, b: dict, xi: torch.Tensor) -> torch.Tensor:
            return torch.func.functional_call(template, (p, b), (xi,))

        return torch.vmap(one, randomness="error")(params, buffers, x).transpose(0, 1)

    def member_state(self, i: int) -> dict[str, torch.Tensor]:
        """Model ``i``'s state dict, under the ResNet's own names."""
        names = (*self.param_names, *self.buffer_names)
        return {n: self.get_parameter(_flat(n)).detach()[i] if n in self.param_names else self.get_buffer(_flat(n))[i]
                for n in names}


def _flat(name: str) -> str:
    return name.replace(".", "-")


class LoopPack(nn.Module):
    """K ResNets kept apart and run one after another: plain convolutions, one optimizer.

    Examples
    --------
    >>> LoopPack([ResNet(16), ResNet(16)]).forward_stacked(torch.zeros(2, 4, 3, 32, 32)).shape
    torch.Size([4, 2, 10])
    """

    def __init__(self, models: list[ResNet]) -> None:
        super().__init__()
        first = models[0]
        self.k, self.width, self.depth = len(models), first.width, first.depth
        self.in_channels, self.num_classes = first.in_channels, first.num_classes
        self.members = nn.ModuleList(copy.deepcopy(m) for m in models)

    def forward_stacked(self, x: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
        """K batches ``(K, B, C, H, W)`` to logits ``(B, K, classes)``, one member at a time."""
        layout = torch.channels_last if channels_last else torch.contiguous_format
        return torch.stack([m(x[i].contiguous(memory_format=layout)) for i, m in enumerate(self.members)], dim=1)


Pack = PackedResNet | VmapPack | LoopPack


# ----------------------------------------------------------------------------------------------
# Packing and unpacking


def pack(models: list[ResNet], route: str = "grouped") -> Pack:
    """K same-shaped ResNets as one pack of the given route (weights copied exactly).

    Parameters
    ----------
    models : list of ResNet
        The members, all of the same width, depth, channels and classes.
    route : {"grouped", "vmap", "loop"}
        How the pack runs (see the module docstring).

    Returns
    -------
    PackedResNet, VmapPack or LoopPack
        A module whose ``forward_stacked`` maps ``(K, B, C, H, W)`` to ``(B, K, classes)``.

    Examples
    --------
    >>> nets = [build(s, 16, 8) for s in (1, 2)]
    >>> x = torch.randn(4, 3, 32, 32)
    >>> _ = [n.eval() for n in nets]; packed = pack(nets).eval()
    >>> torch.allclose(packed(torch.cat([x, x], 1))[:, 1], nets[1](x), atol=1e-5)
    True
    >>> type(pack(nets, "vmap")).__name__
    'VmapPack'
    """
    if route not in _PACKERS:
        raise ValueError(f"unknown packing route {route!r}; use one of {', '.join(_PACKERS)}")
    return _PACKERS[route](models)


def _pack_grouped(models: list[ResNet]) -> PackedResNet:
    first = models[0]
    packed = PackedResNet(len(models), first.width, first.depth, first.in_channels, first.num_classes)
    states = [m.state_dict() for m in models]
    merged = {key: _merge(key, [s[key] for s in states]) for key in states[0]}
    packed.load_state_dict(merged)
    return packed


_PACKERS: dict[str, Callable[[list[ResNet]], Pack]] = {"grouped": _pack_grouped, "vmap": VmapPack, "loop": LoopPack}


def _merge(key: str, tensors: list[torch.Tensor]) -> torch.Tensor:
    if key.endswith("num_batches_tracked"):
        return tensors[0]
    return torch.cat(tensors, dim=0)


def unpack(packed: Pack) -> list[ResNet]:
    """Return the K members of a pack as separate ResNets (the inverse of :func:`pack`, every route).

    Examples
    --------
    >>> nets = unpack(PackedResNet(k=3, width=16))
    >>> len(nets), nets[0].stem[0].weight.shape
    (3, torch.Size([16, 3, 3, 3]))
    """
    if isinstance(packed, LoopPack):
        return [copy.deepcopy(m) for m in packed.members]
    members = []
    for i in range(packed.k):
        net = ResNet(packed.width, packed.depth, packed.in_channels, packed.num_classes)
        state = packed.member_state(i) if isinstance(packed, VmapPack) else _grouped_member(packed, i)
        net.load_state_dict(state)
        members.append(net.to(next(packed.parameters()).device))
    return members


def _grouped_member(packed: PackedResNet, i: int) -> dict[str, torch.Tensor]:
    return {key: _slice(key, value, i, packed.k) for key, value in packed.state_dict().items()}


def _slice(key: str, value: torch.Tensor, i: int, k: int) -> torch.Tensor:
    if key.endswith("num_batches_tracked"):
        return value
    size = value.shape[0] // k
    return value[i * size : (i + 1) * size]


def to_device(net: Pack, device: torch.device, channels_last: bool) -> Pack:
    """Move a pack to ``device``; with ``channels_last``, lay its 4-d weights out channels-last.

    A vmap pack's weights are 5-d stacks and stay as they are: vmap reshapes them into a grouped
    convolution's weight per call.
    """
    net = net.to(device)
    if channels_last and not isinstance(net, VmapPack):
        net = net.to(memory_format=torch.channels_last)
    return net
