"""A plugged-in trainer for the tests: a nearest-class-mean classifier in NumPy.

It shows the interface a user's own model implements (``RunConfig -> rows``) and takes its images
from :func:`trainers.data.run_data`, so it sees exactly the grid's splits and overlap masks.
"""

from __future__ import annotations

import numpy as np

from trainers.config import RunConfig
from trainers.data import run_data


def nearest_mean(config: RunConfig) -> list[dict]:
    data = run_data(config)
    x = data.train_x.reshape(len(data.train_x), -1).astype(np.float64)
    y = data.train_y
    means = np.stack([x[y == c].mean(0) if (y == c).any() else np.full(x.shape[1], np.inf) for c in range(10)])
    return [_row(ev, means, len(x)) for ev in data.evals]


def _row(ev, means: np.ndarray, train_size: int) -> dict:  # noqa: ANN001
    x = ev.x.reshape(len(ev.x), -1).astype(np.float64)
    dist = ((x[:, None, :] - np.where(np.isfinite(means), means, 1e6)[None]) ** 2).mean(-1)
    wrong = (dist.argmin(1) != ev.y)[~ev.overlap]
    scores = -dist / dist.std()
    logp = scores - np.log(np.exp(scores - scores.max(1, keepdims=True)).sum(1, keepdims=True)) - scores.max(1, keepdims=True)
    return {
        "eval_set": ev.name,
        "train_size": train_size,
        "params": int(means.size),
        "error": max(int(wrong.sum()), 0.5) / len(wrong),
        "loss": float(-logp[np.arange(len(ev.y)), ev.y][~ev.overlap].mean()),
        "trainer_name": "nearest_mean",
    }


def broken(config: RunConfig) -> list[dict]:
    """A trainer that fails, to check failures surface as one line."""
    raise RuntimeError(f"the plug-in broke on {config.train_set}")


def wrong_eval_sets(config: RunConfig) -> list[dict]:
    """A trainer that forgets an evaluation set: the grid must refuse its rows."""
    return nearest_mean(config)[:1]
