"""Mixup, augmentation, step budget and schedule against hand computations.

Tolerances: float32 arithmetic on O(1) values, so 1e-6 absolute for losses and mixed pixels;
the Beta moments use 20,000 draws, whose standard error of the mean is 0.29/sqrt(2e4) = 0.002,
so 0.01 is five standard errors.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from trainers.train import Budget, augment, draw, lr_factor, mix, mixup_loss, step_budget

ATOL = 1e-6
MOMENT_TOL = 0.01


@pytest.mark.parametrize("lam", [0.0, 0.3, 0.5, 1.0])
def test_mixup_loss_is_lambda_weighted_cross_entropies(lam):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 1, 10, generator=g)
    y_a, y_b = torch.randint(0, 10, (1, 6), generator=g), torch.randint(0, 10, (1, 6), generator=g)
    got = mixup_loss(logits, y_a, y_b, torch.tensor([lam]))[0]
    expected = lam * F.cross_entropy(logits[:, 0], y_a[0]) + (1 - lam) * F.cross_entropy(logits[:, 0], y_b[0])
    assert abs(float(got) - float(expected)) < ATOL


def test_packed_mixup_loss_is_each_models_own():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(5, 3, 10, generator=g)
    y_a, y_b = torch.randint(0, 10, (3, 5), generator=g), torch.randint(0, 10, (3, 5), generator=g)
    lam = torch.tensor([0.2, 1.0, 0.7])
    got = mixup_loss(logits, y_a, y_b, lam)
    for k in range(3):
        one = mixup_loss(logits[:, k : k + 1], y_a[k : k + 1], y_b[k : k + 1], lam[k : k + 1])[0]
        assert abs(float(got[k]) - float(one)) < ATOL


def test_mix_uses_one_lambda_per_model_and_a_shuffled_partner():
    x = torch.arange(2 * 4 * 3, dtype=torch.float32).view(2, 4, 3)
    y = torch.tensor([[0, 1, 2, 3], [4, 5, 6, 7]])
    partner = torch.tensor([[1, 0, 3, 2], [3, 2, 1, 0]])
    lam = torch.tensor([0.25, 1.0])
    mixed, y_b = mix(x, y, partner, lam)
    assert torch.allclose(mixed[0, 0], 0.25 * x[0, 0] + 0.75 * x[0, 1], atol=ATOL)
    assert torch.equal(mixed[1], x[1])  # lambda 1: no mixing
    assert y_b.tolist() == [[1, 0, 3, 2], [7, 6, 5, 4]]


@pytest.mark.parametrize("alpha", [1.0, 0.4])
def test_one_beta_lambda_per_batch(alpha):
    d = draw(3, 100, Budget(steps=20_000, batch=2, epochs=400.0), mixup=True, alpha=alpha)
    mean, var = 0.5, 1 / (4 * (2 * alpha + 1))  # Beta(a, a)
    assert d.lam.shape == (20_000,)
    assert abs(d.lam.mean() - mean) < MOMENT_TOL and abs(d.lam.var() - var) < MOMENT_TOL


def test_draws_without_mixup_and_passes_over_the_part():
    d = draw(0, 10, Budget(steps=6, batch=5, epochs=3.0), mixup=False, alpha=1.0)
    assert np.all(d.lam == 1.0)
    passes = d.order.reshape(3, 10)
    assert all(sorted(p) == list(range(10)) for p in passes)  # every image once per pass
    assert all(sorted(p) == list(range(5)) for p in d.partner)
    assert d.shift.min() >= 0 and d.shift.max() <= 8
    again = draw(0, 10, Budget(steps=6, batch=5, epochs=3.0), mixup=False, alpha=1.0)
    assert np.array_equal(d.order, again.order) and np.array_equal(d.shift, again.shift)


@pytest.mark.parametrize(("dy", "dx", "flip"), [(0, 0, False), (4, 4, False), (8, 3, True), (2, 7, True)])
def test_augment_is_pad_crop_then_flip(dy, dx, flip):
    x = torch.randint(0, 255, (2, 3, 32, 32), dtype=torch.uint8)
    out = augment(x, torch.tensor([[dy, dx], [4, 4]]), torch.tensor([flip, False]))
    ref = F.pad(x, (4, 4, 4, 4))[0, :, dy : dy + 32, dx : dx + 32]
    assert torch.equal(out[0], ref.flip(2) if flip else ref)
    assert torch.equal(out[1], x[1]) and out.dtype == torch.uint8


@pytest.mark.parametrize(("size", "batch", "epochs", "min_steps", "steps", "used_batch"), [
    (50_000, 512, 30, 0, 2930, 512),
    (3125, 512, 30, 0, 184, 512),
    (3125, 512, 30, 400, 400, 512),
    (100, 512, 2, 0, 2, 100),  # a part smaller than a batch: the batch is the part
    (100, 32, 0, 0, 1, 32),  # at least one step
])
def test_step_budget_rule(size, batch, epochs, min_steps, steps, used_batch):
    b = step_budget(size, batch, epochs, min_steps)
    assert (b.steps, b.batch) == (steps, used_batch)
    assert math.isclose(b.epochs, round(steps * used_batch / size, 4))


def test_schedule_warms_up_then_decays_to_zero():
    f = [lr_factor(s, 100, 0.1) for s in range(100)]
    assert f[9] == 1.0 and f[0] == 0.1 and f[-1] == 0.0
    assert all(a <= b for a, b in zip(f[:10], f[1:10], strict=False))
    assert all(a >= b for a, b in zip(f[10:], f[11:], strict=False))


def test_datasets_that_must_not_be_mirrored_draw_no_flips():
    d = draw(0, 10, Budget(steps=50, batch=5, epochs=25.0), mixup=False, alpha=1.0, flip=False)
    assert not d.flip.any()
    assert draw(0, 10, Budget(steps=50, batch=5, epochs=25.0), mixup=False, alpha=1.0).flip.any()
