"""ResNets by width and depth, and packing: K models in one grouped network equal K separate ones.

Tolerances: grouped and ungrouped float32 convolutions sum in different orders, so outputs agree
to ~1e-6 relative; 1e-4 absolute on O(1) logits leaves room for that and catches any mixing of
models (which changes logits by O(0.1)). After training steps the same holds for losses.
"""

from __future__ import annotations

import pytest
import torch

from trainers.models import PackedResNet, ResNet, blocks_per_stage, build, count_params, pack, unpack

ATOL = 1e-4


def expected_params(w: int, depth: int, classes: int = 10, cin: int = 3) -> int:
    """Hand count: 3x3 convs without bias, BatchNorm weight+bias, 1x1 shortcuts, linear head."""
    b = (depth - 2) // 6
    block = lambda i, o: 9 * i * o + 2 * o + 9 * o * o + 2 * o + ((i * o + 2 * o) if i != o else 0)  # noqa: E731
    stem = 9 * cin * w + 2 * w
    stages = sum(block(i, o) + (b - 1) * block(o, o) for i, o in ((w, w), (w, 2 * w), (2 * w, 4 * w)))
    return stem + stages + 4 * w * classes + classes


@pytest.mark.parametrize("width", [16, 32])
@pytest.mark.parametrize("depth", [8, 14, 20])
def test_param_count_matches_the_hand_count(width, depth):
    assert count_params(ResNet(width, depth)) == expected_params(width, depth)
    assert count_params(PackedResNet(3, width, depth)) == expected_params(width, depth)


def test_bad_depth_is_refused():
    with pytest.raises(ValueError, match="6\\*b \\+ 2"):
        blocks_per_stage(10)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_packed_forward_equals_each_model(mode):
    nets = [build(s, 16, 8) for s in (1, 2, 3)]
    packed = pack(nets)
    for m in [*nets, packed]:
        m.train(mode == "train")
    xs = [torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(s)) for s in range(3)]
    out = packed(torch.cat(xs, dim=1))
    for k in range(3):
        assert torch.allclose(out[:, k], nets[k](xs[k]), atol=ATOL)


def test_pack_then_unpack_is_the_identity():
    nets = [build(s, 16, 8) for s in (4, 5)]
    back = unpack(pack(nets))
    for a, b in zip(nets, back, strict=True):
        sa, sb = a.state_dict(), b.state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_build_is_seeded_and_leaves_global_rng_alone():
    torch.manual_seed(0)
    before = torch.rand(1)
    torch.manual_seed(0)
    a, b = build(7, 16, 8), build(7, 16, 8)
    assert torch.equal(torch.rand(1), before)
    assert torch.equal(a.stem[0].weight, b.stem[0].weight)
    assert not torch.equal(a.stem[0].weight, build(8, 16, 8).stem[0].weight)


def test_packed_sgd_steps_equal_separate_sgd_steps():
    """Summed losses give every member exactly its own gradient, so K packed runs follow K single runs."""
    nets = [build(s, 16, 8) for s in (10, 11)]
    packed = pack([build(s, 16, 8) for s in (10, 11)])
    opts = [torch.optim.SGD(n.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4) for n in nets]
    popt = torch.optim.SGD(packed.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        xs = [torch.randn(8, 3, 32, 32, generator=g) for _ in nets]
        ys = [torch.randint(0, 10, (8,), generator=g) for _ in nets]
        for net, opt, x, y in zip(nets, opts, xs, ys, strict=True):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
        popt.zero_grad()
        out = packed(torch.cat(xs, 1))
        sum(torch.nn.functional.cross_entropy(out[:, k], ys[k]) for k in range(2)).backward()
        popt.step()
    for single, member in zip(nets, unpack(packed), strict=True):
        for (name, p), q in zip(single.state_dict().items(), member.state_dict().values(), strict=True):
            assert torch.allclose(p.float(), q.float(), atol=ATOL), name
