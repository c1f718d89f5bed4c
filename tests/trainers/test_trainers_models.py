"""ResNets by width and depth, and packing: K models in one pack equal K separate ones, by every route.

Tolerances: grouped and ungrouped float32 convolutions sum in different orders, so outputs agree
to ~1e-6 relative; 1e-4 absolute on O(1) logits leaves room for that and catches any mixing of
models (which changes logits by O(0.1)). After training steps the same holds for losses. The loop
route runs each member's own plain convolutions, so it is compared exactly.
"""

from __future__ import annotations

import pytest
import torch

from trainers.config import PACKINGS
from trainers.models import LoopPack, PackedResNet, ResNet, VmapPack, blocks_per_stage, build, count_params, pack, unpack

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


@pytest.mark.parametrize("route", PACKINGS)
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_every_route_forwards_each_member_on_its_own_batch(route, mode):
    nets = [build(s, 16, 8) for s in (1, 2, 3)]
    packed = pack(nets, route)
    for m in [*nets, packed]:
        m.train(mode == "train")
    x = torch.randn(3, 8, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    out = packed.forward_stacked(x)
    assert out.shape == (8, 3, 10)
    for k in range(3):
        alone = nets[k](x[k])
        assert torch.equal(out[:, k], alone) if route == "loop" else torch.allclose(out[:, k], alone, atol=ATOL)


@pytest.mark.parametrize("route", PACKINGS)
def test_batchnorm_statistics_stay_each_members_own(route):
    nets = [build(s, 16, 8) for s in (1, 2)]
    packed = pack(nets, route).train()
    x = torch.randn(2, 8, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    packed.forward_stacked(x)
    for k, member in enumerate(unpack(packed)):
        nets[k].train()(x[k])
        assert torch.allclose(member.stem[1].running_mean, nets[k].stem[1].running_mean, atol=1e-6)
        assert torch.allclose(member.stem[1].running_var, nets[k].stem[1].running_var, atol=1e-6)


@pytest.mark.parametrize("route", PACKINGS)
def test_pack_then_unpack_is_the_identity(route):
    nets = [build(s, 16, 8) for s in (4, 5)]
    back = unpack(pack(nets, route))
    for a, b in zip(nets, back, strict=True):
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_routes_are_their_classes_and_an_unknown_route_is_refused():
    nets = [build(s, 16, 8) for s in (1, 2)]
    assert [type(pack(nets, r)) for r in PACKINGS] == [PackedResNet, VmapPack, LoopPack]
    assert all(count_params(pack(nets, r)) == count_params(nets[0]) for r in PACKINGS)
    with pytest.raises(ValueError, match="unknown packing route 'bmm'; use one of grouped, vmap, loop"):
        pack(nets, "bmm")


def test_build_is_seeded_and_leaves_global_rng_alone():
    torch.manual_seed(0)
    before = torch.rand(1)
    torch.manual_seed(0)
    a, b = build(7, 16, 8), build(7, 16, 8)
    assert torch.equal(torch.rand(1), before)
    assert torch.equal(a.stem[0].weight, b.stem[0].weight)
    assert not torch.equal(a.stem[0].weight, build(8, 16, 8).stem[0].weight)


@pytest.mark.parametrize("route", PACKINGS)
def test_packed_sgd_steps_equal_separate_sgd_steps(route):
    """Summed losses give every member exactly its own gradient, so K packed runs follow K single runs."""
    nets = [build(s, 16, 8) for s in (10, 11)]
    packed = pack([build(s, 16, 8) for s in (10, 11)], route)
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
        out = packed.forward_stacked(torch.stack(xs))
        sum(torch.nn.functional.cross_entropy(out[:, k], ys[k]) for k in range(2)).backward()
        popt.step()
    for single, member in zip(nets, unpack(packed), strict=True):
        for (name, p), q in zip(single.state_dict().items(), member.state_dict().values(), strict=True):
            assert torch.allclose(p.float(), q.float(), atol=ATOL), name
