"""Huber and bisquare IRWLS on a law, their covariances, and the law's bootstraps.

Tolerances, and why:
- the log-linear law against ``powerlaw_stats.fit`` (MASS rlm's algorithm on the same linear
  model): 1e-10 relative in coefficients, SEs, scale and weights, and the same iteration count.
  One Gauss–Newton step of a linear model is the weighted least-squares solve, so the iterations
  are MASS's; observed ~1e-14. ``fit`` ends its IRWLS in Newton steps at a tight acc
  (estimation/irwls.py): the reference runs with that tail switched off, MASS's iteration throughout.
- Huber with k = 1e6 against least squares: 1e-12 (every weight is 1, the fits are the same).
- IRWLS against a direct minimisation of Σ ρ(r/s) with scipy's BFGS at the final scale s: 1e-8 in
  every coefficient (observed 1.4e-10); scipy stops on its own gradient tolerance.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import powerlaw_stats as ps
from powerlaw_stats.errors import OptionError
from powerlaw_stats.estimation import irwls as irwls_module
from powerlaw_stats.estimation.norms import make_norm
from powerlaw_stats.laws import IdentificationWarning, fit_law, law_bootstrap

SEED = "log_err ~ I(log2(TS)-IXMin)*(mix+TrainSet*EvalSet)"
LINEAR = {"a": "mix+TrainSet*EvalSet", "b": "mix+TrainSet*EvalSet"}


def _fit_name(law_name: str) -> str:
    param, _, col = law_name.partition(".")
    col = col or "(Intercept)"
    x = "I(log2(TS) - IXMin)"
    if param == "a":
        return col
    return x if col == "(Intercept)" else f"{x}:{col}"


@pytest.mark.parametrize("method", ["huber", "bisquare"])
@pytest.mark.parametrize("scale_est", ["MAD", "proposal2"])
@pytest.mark.parametrize("vcov, cluster", [("classic", None), ("HC1", None), ("CR1", "run_id"), ("CR3", "run_id")])
def test_linear_law_is_mass_rlm(method, scale_est, vcov, cluster, monkeypatch):
    res = fit_law(law="loglinear", params=LINEAR, weights="w", method=method, scale_est=scale_est, vcov=vcov,
                  cluster=cluster, profile=False, compare=False)
    monkeypatch.setattr(irwls_module, "NEWTON_SWITCH", 0.0)
    ref = ps.fit(SEED, method=method, weights="w", scale_est=scale_est, vcov=vcov, cluster=cluster)
    names = [_fit_name(n) for n in res.params.index]
    np.testing.assert_allclose(res.params.to_numpy(), ref.params[names].to_numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res.bse.to_numpy(), ref.bse[names].to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(res.weights, ref.weights, rtol=1e-10, atol=1e-12)
    assert abs(res.scale / ref.scale - 1) < 1e-10 and res.n_iter == ref.n_iter and res.df_resid == ref.df_resid


def _clean_study(seed=5, noise=0.05):
    rng = np.random.default_rng(seed)
    rows = []
    for ev, floor in (("c10", 0.05), ("cin", 0.2)):
        for mix in (0, 1):
            for k in range(6):
                for run in range(4):
                    err = floor + 2 ** ((-0.7 - 0.1 * mix) * k)
                    rows.append({"train_size": 1000 * 2**k, "eval_set": ev, "mixup": mix, "trials": 4,
                                 "error": err * 2 ** (noise * rng.standard_normal()), "run_id": f"{ev}{mix}{k}{run}"})
    return pd.DataFrame(rows)


PARAMS = {"E": "EvalSet", "b": "mix"}


def test_huber_with_a_huge_tuning_constant_is_least_squares():
    data = _clean_study()
    ls = fit_law(data, params=PARAMS, weights="w", profile=False, compare=False)
    big = fit_law(data, params=PARAMS, weights="w", method="huber", tuning=1e6, profile=False, compare=False)
    np.testing.assert_allclose(big.params.to_numpy(), ls.params.to_numpy(), rtol=1e-12, atol=1e-14)
    assert (big.weights == 1).all()


def _rho(name, k):
    if name == "huber":
        return lambda u: np.where(np.abs(u) <= k, 0.5 * u * u, k * np.abs(u) - 0.5 * k * k)
    return lambda u: np.where(np.abs(u) < k, k * k / 6 * (1 - (1 - (u / k) ** 2) ** 3), k * k / 6)


@pytest.mark.parametrize("method", ["huber", "bisquare"])
def test_irwls_is_the_minimum_of_the_robust_objective(method):
    from scipy.optimize import minimize

    res = fit_law(_clean_study(), params=PARAMS, weights="w", method=method, profile=False, compare=False)
    problem, norm, s = res.problem, make_norm(method), res.scale
    rho = _rho(method, norm.k if method == "huber" else norm.c)

    def objective(theta):
        value = np.sum(rho(problem.resid(theta) / s))
        return value if np.isfinite(value) else 1e300

    def gradient(theta):
        r, jac = problem.resid_jac(theta)
        g = -(norm.psi(r / s) / s) @ jac
        return g if np.all(np.isfinite(g)) else np.zeros_like(g)

    direct = minimize(objective, res.params.to_numpy() + 1e-4, jac=gradient, method="BFGS", options={"gtol": 1e-12})
    np.testing.assert_allclose(direct.x, res.params.to_numpy(), atol=1e-8)
    assert objective(res.params.to_numpy()) <= direct.fun + 1e-12


def test_robust_fit_reports_what_it_can():
    data = _clean_study()
    data.loc[5, "error"] *= 8  # one gross outlier
    res = fit_law(data, params=PARAMS, weights="w", method="huber")
    assert res.profile is None and np.isnan(res.loglik)
    assert res.weights[5] < 0.2 and res.vcov == "rlm (MASS, XtX) on the Jacobian"
    assert res.floor_test.p_value is None and "least squares" in res.floor_test.note
    assert set(res.floor_test.heldout.index) == {"saturating", "loglinear"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdentificationWarning)  # the outlier flattens the floor's profile
        ols = fit_law(data, params=PARAMS, weights="w")
    assert abs(res.params["b.mix1"] + 0.1) < abs(ols.params["b.mix1"] + 0.1) + 0.01


# ----------------------------------------------------------------------------- bootstrap


def test_wild_bootstrap_is_seeded_and_sensible():
    res = fit_law(_clean_study(), params=PARAMS, weights="w", profile=False, compare=False)
    a = law_bootstrap(res, 99, seed=4)
    b = law_bootstrap(res, 99, seed=4)
    np.testing.assert_array_equal(a.draws, b.draws)
    assert a.n_failed == 0 and a.draws.shape == (99, len(res.params))
    lo, hi = a.ci_percentile.loc["b.mix1"]
    assert lo < res.params["b.mix1"] < hi
    # the replicates' spread agrees with the classic SE on this well-specified design
    assert 0.6 < a.boot_se["b.mix1"] / res.bse["b.mix1"] < 1.5


def test_pairs_bootstrap_replays_given_resamples():
    res = fit_law(_clean_study(), params=PARAMS, weights="w", profile=False, compare=False)
    same = np.tile(np.arange(res.nobs), (3, 1))
    boot = law_bootstrap(res, kind="pairs", indices=same)
    np.testing.assert_allclose(boot.draws, np.tile(res.params.to_numpy(), (3, 1)), atol=1e-9)
    drawn = law_bootstrap(res, 20, kind="pairs", seed=2)
    assert drawn.n_boot == 20 and np.isfinite(drawn.boot_se).all()


def test_cluster_bootstraps_run():
    res = fit_law(_clean_study(), params=PARAMS, weights="w", cluster="run_id", profile=False, compare=False)
    for kind in ("wild", "pairs"):
        boot = law_bootstrap(res, 20, kind=kind, seed=1)
        assert boot.cluster == "run_id" and boot.n_failed == 0 and np.isfinite(boot.bse).all()


@pytest.mark.parametrize("kwargs, match", [({"kind": "jackknife"}, "unknown bootstrap kind"),
                                           ({"weights": "normal"}, "unknown bootstrap weights"),
                                           ({"indices": np.zeros((2, 3), int)}, "kind='pairs'"),
                                           ({"n_boot": 1}, "at least 2")])
def test_bootstrap_options_are_checked(kwargs, match):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdentificationWarning)
        res = fit_law(law="saturating", params={"b": "mix"}, weights="w", profile=False, compare=False)
    with pytest.raises(OptionError, match=match):
        law_bootstrap(res, **{"n_boot": 5, **kwargs})
