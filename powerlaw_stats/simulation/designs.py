"""The rows a simulation draws on: the observed design, or the table rebuilt under a trial scheme.

A design rebuilds the table from the schema's trial rule (docs/simulate.md): a *configuration* is
a set of rows sharing the schema's configuration columns (train set, eval set, size, splits,
width, params, mixup, ...); it gets ``n_splits`` runs ("n") or ``max(n_splits, K)`` runs ("minK").
Every simulated row keeps the noise of the observed row it copies (its *template*), whatever
weight the new design gives it: :class:`SimRows` carries both. ``plan``'s candidate studies are
rebuilt tables too and end in the same :func:`rebuilt_rows`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..data.frame import ModelFrame
from ..data.schema import TRIAL_COLUMNS, configuration_columns, runs_per_size, split_of
from ..errors import DataError, OptionError
from ..inference.covariance import Clusters, make_clusters

DESIGNS: tuple[str, ...] = ("observed", "n", "min4")
TEMPLATE = "__template_row__"  # carries each simulated row's source row through model_frame
RUN_POSITION = "__run_position__"  # a rebuilt row's run within its configuration, while run ids are renumbered
_MIN_DESIGN = re.compile(r"^min(\d+)$")


@dataclass(frozen=True, slots=True, kw_only=True)
class SimRows:
    """The rows trials are simulated on: design, the estimators' prior weights, each row's noise factor.

    ``noise`` is 1/sqrt(w0) of the observed row each row copies; ``groups`` the labels residuals
    are resampled within; ``frame`` the rows themselves; ``cluster`` the cluster columns of a
    clustered covariance.
    """

    x: np.ndarray
    weights: np.ndarray | None
    noise: np.ndarray
    frame: pd.DataFrame
    groups: np.ndarray | None = None
    cluster: tuple[str, ...] = ()

    def clusters(self, rows: np.ndarray | None = None) -> Clusters | None:
        """The cluster codes of the simulated rows (of ``rows`` only, when given)."""
        if not self.cluster:
            return None
        return make_clusters({c: self.frame[c].to_numpy() if rows is None else self.frame[c].to_numpy()[rows]
                              for c in self.cluster})


def rebuilt_rows(mf: ModelFrame, x: np.ndarray, keep: np.ndarray, template: np.ndarray,
                 observed_weights: np.ndarray | None, *, within: str | None = None, cluster: tuple[str, ...] = (),
                 drop_columns: Sequence[str] = ()) -> SimRows:
    """The kept rows of a rebuilt table: their design and weights, and noise from the observed rows they copy.

    ``template[i]`` is the position among the observed rows (and ``observed_weights``) that row i
    copies; ``drop_columns`` are bookkeeping columns left out of the rows' frame.
    """
    w_obs = None if observed_weights is None else observed_weights[template[keep]]
    weights = None if mf.weights is None else mf.weights[keep]
    groups = mf.frame[within].to_numpy()[keep] if within else None
    frame = mf.frame.loc[keep].drop(columns=list(drop_columns))
    return SimRows(x=x[keep], weights=weights, noise=noise_factor(w_obs, int(keep.sum())), frame=frame, groups=groups,
                   cluster=cluster)


# ----------------------------------------------------------------------------- trial schemes


@dataclass(frozen=True, slots=True)
class DesignSpec:
    """A validated design: its name and the minimum trials per size (None: as observed; 1: "n")."""

    name: str
    min_trials: int | None

    @property
    def description(self) -> str:
        """The design in words."""
        if self.min_trials is None:
            return "Observed design: the data's own rows and prior weights."
        if self.min_trials == 1:
            return ("Design 'n': every configuration trained on 1/n of the pool gets n runs (one per part), so the full "
                    "pool has a single run; the weights are recomputed from these trial counts.")
        return (f"Design 'min{self.min_trials}': every configuration trained on 1/n of the pool gets max(n, "
                f"{self.min_trials}) runs (parts reused with new initialisations where n < {self.min_trials}); the "
                "weights are recomputed from these trial counts.")


def design_spec(design: str, min_trials: int | None) -> DesignSpec:
    """Validate ``design`` ("observed", "n", "min4" or any "minK") and ``min_trials``.

    Examples
    --------
    >>> design_spec("min4", None), design_spec("min4", 6).name
    (DesignSpec(name='min4', min_trials=4), 'min6')
    """
    match = _MIN_DESIGN.match(design) if isinstance(design, str) else None
    if design not in ("observed", "n") and match is None:
        raise OptionError(f"unknown design {design!r}; choose observed, n or min4 (minK for another minimum)")
    if min_trials is not None:
        if match is None:
            raise OptionError(f"min_trials applies to a 'min' design, not {design!r}; use design='min4' with min_trials")
        design = f"min{int(min_trials)}"
        match = _MIN_DESIGN.match(design)
    if match is not None:
        k = int(match.group(1))
        if k < 1:
            raise OptionError(f"the minimum number of trials must be at least 1, got {k}")
        return DesignSpec(design, k)
    return DesignSpec(design, None if design == "observed" else 1)


def noise_factor(w_template: np.ndarray | None, n: int) -> np.ndarray:
    """Each simulated row's noise scale 1/sqrt(w0) from the prior weight of the real row it copies.

    The noise stays with the configuration even when a rebuilt design gives the row another weight;
    a row of weight 0 gets no noise (it does not enter the fit).

    Examples
    --------
    >>> noise_factor(np.array([0.25, 1.0, 0.0]), 3).tolist(), noise_factor(None, 2).tolist()
    ([2.0, 1.0, 0.0], [1.0, 1.0])
    """
    if w_template is None:
        return np.ones(n)
    with np.errstate(divide="ignore"):
        return np.where(w_template > 0, 1.0 / np.sqrt(w_template), 0.0)


def rebuild_trials(raw: pd.DataFrame, spec: DesignSpec, variables: Sequence[str],
                   usable: np.ndarray | None = None) -> pd.DataFrame:
    """The table under ``spec``'s trial scheme, each row tagged with the raw row it copies.

    Configurations keep their sizes and values; row j of a configuration with n splits copies the
    configuration's observed row j (cycling), with ``trial = j``, ``split = j mod n``, ``trials = K``.
    ``usable`` (a mask over ``raw``) restricts the rows copied to those the real fit used, so a
    missing response in one run does not remove a simulated row; a configuration without any
    usable row is copied as it is (and filtered later exactly as the data were).

    Examples
    --------
    >>> raw = pd.DataFrame({"train_size": [10, 10, 20, 20], "n_splits": [2, 2, 1, 1], "trials": [2, 2, 2, 2],
    ...                     "error": [0.5, 0.4, 0.3, 0.2]})
    >>> rebuild_trials(raw, DesignSpec("n", 1), ["TS"])[["train_size", "trials", "__template_row__"]].values.tolist()
    [[10, 2, 0], [10, 2, 1], [20, 1, 2]]
    """
    missing = [c for c in TRIAL_COLUMNS if c not in raw.columns]
    if missing:
        raise DataError(f"design {spec.name!r} rebuilds the trials from the schema's columns, but the table lacks "
                        f"{', '.join(missing)}; use design='observed'")
    keys = configuration_columns(raw, variables)
    usable = np.ones(len(raw), dtype=bool) if usable is None else np.asarray(usable, dtype=bool)
    tagged = raw.assign(**{TEMPLATE: np.arange(len(raw))})
    cell = tagged.groupby(keys, sort=False, dropna=False).ngroup().to_numpy()
    rows, n, k, position = _cell_rows(tagged, cell, spec.min_trials or 1, usable)
    out = tagged.iloc[rows].reset_index(drop=True)
    out["trials"] = k
    out[RUN_POSITION] = position
    for col, values in (("trial", position), ("split", split_of(position, n))):
        if col in out.columns:
            out[col] = values
    return _refresh_weights_column(raw, _renumber_runs(out, keys))


def _renumber_runs(out: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    # A rebuilt run is a new run: the same configuration and position on every evaluation set.
    # Copied run ids would merge runs that reuse one template (cycling) into one cluster.
    position = out.pop(RUN_POSITION)
    if "run_id" not in out.columns:
        return out
    run = out.assign(**{RUN_POSITION: position}).groupby([k for k in keys if k != "eval_set"] + [RUN_POSITION],
                                                         sort=False, dropna=False).ngroup()
    return out.assign(run_id=[f"rebuilt-{r}" for r in run])


def _cell_rows(tagged: pd.DataFrame, cell: np.ndarray, minimum: int,
               usable: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every configuration's rebuilt rows at once, configurations in order of first appearance.

    Returns the raw row each rebuilt row copies, its configuration's n_splits n and run count K, and
    its position j < K: row j of a configuration copies its j-th usable row (cycling; every row when none is usable).
    Arrays, not a table per configuration: thousands of configurations cost no more than a few.
    """
    order = np.argsort(cell, kind="stable")  # rows by configuration, each configuration's rows in table order
    n_cells = int(cell.max()) + 1 if len(cell) else 0
    first = order[np.searchsorted(cell[order], np.arange(n_cells))]
    n_splits, sizes = tagged["n_splits"].to_numpy()[first], tagged["train_size"].to_numpy()[first]
    n, k = np.empty(n_cells, dtype=np.int64), np.empty(n_cells, dtype=np.int64)
    for c in range(n_cells):  # one check per configuration, in the order a reader of the table meets them
        n[c] = int(n_splits[c])
        if n[c] < 1:
            raise DataError(f"n_splits must be at least 1, got {n[c]} (train_size {sizes[c]})")
        k[c] = int(runs_per_size(int(n[c]), minimum))
    any_usable = np.bincount(cell, weights=usable, minlength=n_cells) > 0
    source = order[(usable | ~any_usable[cell])[order]]  # the rows copied, by configuration
    m = np.bincount(cell[source], minlength=n_cells)
    start = np.concatenate([[0], np.cumsum(m)[:-1]])
    which = np.repeat(np.arange(n_cells), k)
    position = np.arange(len(which)) - np.repeat(np.cumsum(k) - k, k)
    return source[start[which] + position % m[which]], n[which], k[which], position


def _refresh_weights_column(raw: pd.DataFrame, out: pd.DataFrame) -> pd.DataFrame:
    # A stored w column that is the schema's 1/trials must follow the new trial counts.
    if "w" in raw.columns and np.allclose(raw["w"].to_numpy(float), 1.0 / raw["trials"].to_numpy(float)):
        out["w"] = 1.0 / out["trials"]
    return out
