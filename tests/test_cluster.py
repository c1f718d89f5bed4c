"""Cluster-robust covariances CR1 and CR3, one and two ways, for least squares and M-estimates.

Tolerances:
- against statsmodels' cluster covariance (same formula, same small-sample factor): 1e-10
  relative; both sides are a few matrix products (we see 1e-14).
- ``fit_covariances`` (one fit, several covariances) against ``fit_fixed`` once per kind: equal
  to the bit, since the estimate and each covariance run the same code on the same arrays.
- identities that hold exactly in exact arithmetic (CR3 = leave-one-cluster-out jackknife for
  least squares, CR1 with one row per cluster = HC1, Huber with a huge tuning constant = least
  squares): 1e-9 relative.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import powerlaw_stats as ps
from powerlaw_stats.errors import DataError, OptionError
from powerlaw_stats.inference.covariance import make_clusters, sandwich_many

DATA = Path(__file__).parent / "data"
CSV = DATA / "curves_a.csv"
FORMULA = "log_err ~ I(log2(TS)-IXMin)*(mix+CinicTr*CinicEv)"
SM_RTOL = 1e-10
IDENTITY_RTOL = 1e-9


@pytest.fixture(scope="module")
def frame():
    return pd.read_csv(CSV)


def statsmodels_cluster_cov(res, groups):
    import statsmodels.api as sm

    w = res.prior_weights
    model = sm.OLS(res.design.y, res.design.x) if w is None else sm.WLS(res.design.y, res.design.x, weights=w)
    return model.fit().get_robustcov_results(cov_type="cluster", groups=groups).cov_params()


@pytest.mark.parametrize("weights", [None, "w"], ids=["ols", "wls"])
@pytest.mark.parametrize("columns", [["run_id"], ["run_id", "train_size"]], ids=["one-way", "two-way"])
def test_cr1_equals_statsmodels(frame, weights, columns):
    res = ps.fit(FORMULA, CSV, weights=weights, cluster=columns)
    assert res.vcov == f"CR1 by {', '.join(columns)}" and res.cluster == tuple(columns)
    codes = np.column_stack([pd.factorize(frame[c])[0] for c in columns])
    expected = statsmodels_cluster_cov(res, codes[:, 0] if len(columns) == 1 else codes)
    np.testing.assert_allclose(res.cov_params.to_numpy(), expected, rtol=SM_RTOL, atol=SM_RTOL * np.abs(expected).max())


def test_cluster_alone_or_with_classic_means_cr1():
    a = ps.fit(FORMULA, CSV, weights="w", cluster="run_id")
    b = ps.fit(FORMULA, CSV, weights="w", cluster="run_id", vcov="CR1")
    c = ps.fit(FORMULA, CSV, weights="w", cluster="run_id", vcov="classic")
    np.testing.assert_array_equal(a.bse, b.bse)
    np.testing.assert_array_equal(c.bse, b.bse)
    assert c.vcov == "CR1 by run_id"


def simulated(seed=0, n_clusters=12, per=5):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_clusters), per)
    x = rng.normal(size=len(g)) + rng.normal(size=n_clusters)[g]
    y = 1 + 0.5 * x + rng.normal(size=n_clusters)[g] + rng.standard_t(4, size=len(g))
    return pd.DataFrame({"x": x, "y": y, "g": g, "h": rng.integers(0, 4, len(g)), "w": rng.uniform(0.5, 2, len(g))})


@pytest.mark.parametrize("weights", [None, "w"])
def test_cr3_is_the_leave_one_cluster_out_jackknife(weights):
    df = simulated()
    res = ps.fit("y ~ x", df, weights=weights, cluster="g", vcov="CR3")
    b = res.params.to_numpy()
    deltas = np.array([ps.fit("y ~ x", df[df.g != g], weights=weights).params.to_numpy() - b for g in range(12)])
    expected = 11 / 12 * deltas.T @ deltas
    np.testing.assert_allclose(res.cov_params.to_numpy(), expected, rtol=IDENTITY_RTOL)


def test_rows_as_clusters_give_hc_kinds_and_cr3_exceeds_cr1():
    df = simulated(seed=1).reset_index().rename(columns={"index": "row"})
    hc1 = ps.fit("y ~ x", df, vcov="HC1")
    cr1_rows = ps.fit("y ~ x", df, cluster="row")
    np.testing.assert_allclose(cr1_rows.bse, hc1.bse, rtol=IDENTITY_RTOL)  # G = n: CR1 is HC1
    hc3 = ps.fit("y ~ x", df, vcov="HC3")
    cr3_rows = ps.fit("y ~ x", df, cluster="row", vcov="CR3")
    n = len(df)
    np.testing.assert_allclose(cr3_rows.bse**2, (n - 1) / n * hc3.bse**2, rtol=IDENTITY_RTOL)  # G = n: CR3 is HC3
    cr1 = ps.fit("y ~ x", df, cluster="g")
    cr3 = ps.fit("y ~ x", df, cluster="g", vcov="CR3")
    assert np.all(cr3.bse > cr1.bse)


@pytest.mark.parametrize("kind", ["HC0", "HC1", "CR1", "CR3"])
def test_m_estimator_with_huge_tuning_is_least_squares(kind):
    df = simulated(seed=2)
    cluster = "g" if kind.startswith("CR") else None
    ls = ps.fit("y ~ x", df, vcov=kind, cluster=cluster)
    m = ps.fit("y ~ x", df, method="huber", tuning=1e9, vcov=kind, cluster=cluster)
    np.testing.assert_allclose(m.params, ls.params, rtol=IDENTITY_RTOL)
    np.testing.assert_allclose(m.bse, ls.bse, rtol=IDENTITY_RTOL)


@pytest.mark.parametrize("method", ["huber", "bisquare", "mm"])
@pytest.mark.parametrize("kind", ["CR1", "CR3"])
def test_robust_cluster_covariances_are_positive_and_labelled(method, kind):
    res = ps.fit(FORMULA, CSV, method=method, weights="w", cluster="run_id", vcov=kind)
    assert res.vcov == f"{kind} by run_id"
    assert np.all(np.linalg.eigvalsh(res.cov_params.to_numpy()) > 0)
    assert np.all(res.bse > 0)


def test_two_way_is_psd_even_with_two_clusters():
    res = ps.fit(FORMULA, CSV, weights="w", cluster=["run_id", "eval_set"])
    assert np.all(np.linalg.eigvalsh(res.cov_params.to_numpy()) >= -1e-15)
    assert np.all(np.isfinite(res.bse))


def test_comma_list_equals_two_columns():
    a = ps.fit(FORMULA, CSV, cluster="run_id, train_size")
    b = ps.fit(FORMULA, CSV, cluster=["run_id", "train_size"])
    np.testing.assert_array_equal(a.bse, b.bse)


def test_batched_rows_are_independent():
    rng = np.random.default_rng(5)
    x = np.column_stack([np.ones(30), rng.normal(size=30)])
    e = rng.normal(size=(3, 30))
    cl = make_clusters({"g": np.arange(30) // 5})
    batch = sandwich_many(x, e, kind="CR3", clusters=cl)
    for t in range(3):
        np.testing.assert_allclose(batch[t], sandwich_many(x, e[t], kind="CR3", clusters=cl)[0], rtol=1e-12)


@pytest.mark.parametrize("sizes", ["pairs", "unequal", "one big cluster"])
@pytest.mark.parametrize("kind", ["CR1", "CR3"])
def test_a_batch_of_trials_gives_each_trial_its_own_covariance(sizes, kind):
    # a batch of 40 trials sums the clusters' scores as small products on padded clusters (or row by row
    # when padding would double the rows: one big cluster); a single trial always row by row
    rng = np.random.default_rng(7)
    n = 120
    codes = {"pairs": np.arange(n) // 2, "unequal": rng.integers(0, 25, n),
             "one big cluster": np.r_[np.zeros(60), np.arange(1, 61)]}
    x = np.column_stack([np.ones(n), rng.normal(size=n), rng.uniform(size=n)])
    e, dpsi = rng.standard_t(3, size=(40, n)), rng.uniform(0.2, 1, size=(40, n))
    cl = make_clusters({"g": rng.permutation(codes[sizes])})
    for weights in (None, dpsi):
        batch = sandwich_many(x, e, weights, kind=kind, clusters=cl)
        for t in range(0, 40, 13):
            one = sandwich_many(x, e[t], None if weights is None else weights[t], kind=kind, clusters=cl)[0]
            np.testing.assert_allclose(batch[t], one, rtol=1e-12)


@pytest.mark.parametrize("kwargs, error, text", [
    (dict(cluster="nope"), DataError, "no column 'nope'"),
    (dict(vcov="CR1"), OptionError, "--cluster"),
    (dict(cluster="run_id", vcov="HC1"), OptionError, "CR1 or CR3"),
    (dict(bootstrap_weights="mammen"), OptionError, "bootstrap weights"),
    (dict(cluster=["run_id", "split", "trial"]), OptionError, "one or two"),
    (dict(cluster="run_id,run_id"), OptionError, "repeat"),
    (dict(method="huber", vcov="HC3"), OptionError, "least squares"),
    (dict(method="huber", weights="w", weight_type="case", vcov="HC0"), OptionError, "inverse-variance"),
    (dict(cluster="train_set", where="train_set == 'cifar10'", formula="log_err ~ TS"), OptionError, "one value"),
    (dict(cluster="eval_set", vcov="CR3"), OptionError, "CR3 needs"),
])
def test_errors(kwargs, error, text):
    formula = kwargs.pop("formula", FORMULA)
    with pytest.raises(error, match=text):
        ps.fit(formula, CSV, **kwargs)


# ----------------------------------------------------------------------------- one estimate, several covariances


def assert_same_fit(a, b):
    for name in ("params", "bse", "tvalues", "pvalues", "cov_params", "resid", "fittedvalues", "weights"):
        left, right = getattr(a, name), getattr(b, name)
        assert np.array_equal(np.asarray(left), np.asarray(right), equal_nan=True), name
    assert (a.method, a.cluster, a.settings, a.df_resid, a.scale, a.nobs, a.n_iter) == \
        (b.method, b.cluster, b.settings, b.df_resid, b.scale, b.nobs, b.n_iter)
    assert np.array_equal(a.conf_int(), b.conf_int(), equal_nan=True)


@pytest.mark.parametrize("method, weights, kinds, cluster", [
    ("ols", "w", ("CR1", "classic", "HC3"), "run_id"),
    ("ols", None, ("classic", "CR3"), ["run_id", "split"]),
    ("huber", "w", ("CR1", "classic"), "run_id"),
    ("bisquare", "w", ("classic", "CR3", "HC1"), "run_id"),
    ("mm", "w", ("CR1", "classic", "HC0"), ["run_id", "split"]),
    ("huber", None, ("HC0", "classic"), None),
])
def test_one_fit_gives_each_covariance_as_a_fit_of_its_own(method, weights, kinds, cluster):
    from powerlaw_stats.fitting import fit_covariances, fit_fixed

    frame = pd.read_csv(CSV).dropna(subset=["split"])
    got = fit_covariances(FORMULA, frame, method, weights, kinds=kinds, cluster=cluster)
    assert tuple(got) == kinds
    for kind in kinds:
        clustered = kind in ("CR1", "CR3")
        alone = fit_fixed(FORMULA, frame, method=method, weights=weights, vcov=kind, cluster=cluster if clustered else None)
        assert_same_fit(got[kind], alone)
    assert not np.array_equal(got[kinds[0]].bse, got[kinds[1]].bse)  # the kinds differ: the test can fail


def test_one_fit_calls_the_method_once(monkeypatch):
    from powerlaw_stats.estimation import methods
    from powerlaw_stats.fitting import fit_covariances

    calls = []
    counted = dataclasses.replace(methods.MM, fit=lambda problem: calls.append(problem.settings) or methods.MM.fit(problem))
    monkeypatch.setitem(methods.METHODS, "mm", counted)
    got = fit_covariances(FORMULA, CSV, "mm", "w", kinds=("classic", "CR1"), cluster="run_id")
    assert len(calls) == 1 and calls[0].vcov == "CR1" and calls[0].also_vcov == ("classic", "CR1")
    assert got["classic"].settings.also_vcov == ()  # the results say what each one is, as fit_fixed's do


@pytest.mark.parametrize("kwargs, text", [
    (dict(method="huber", kinds=("classic", "HC3"), cluster=None), "'HC3' applies to least squares only"),
    (dict(method="ols", kinds=("classic", "CR1"), cluster=None), "is cluster-robust: name the cluster column"),
    (dict(method="huber", kinds=("classic", "CR1"), cluster="run_id", weight_type="case"), "inverse-variance"),
    (dict(method="ols", kinds=(), cluster="run_id"), "name at least one covariance"),
    (dict(method="ols", kinds=("classic", "HC9")), "'HC9' is unknown"),
    (dict(method="ols", kinds=("classic", "HC1"), cluster="run_id"), "cluster columns need a cluster-robust kind"),
])
def test_fit_covariances_refuses_what_fit_refuses(kwargs, text):
    from powerlaw_stats.fitting import fit_covariances

    with pytest.raises(OptionError, match=text):
        fit_covariances(FORMULA, CSV, weights="w", **kwargs)


def test_hc_meat_of_a_large_table_is_the_same_sum():
    # n p² above 4M takes one product per trial instead of the rows' outer products: the same sum
    from powerlaw_stats.inference.covariance import _weighted_grams

    rng = np.random.default_rng(3)
    h, omega = rng.normal(size=(41_000, 10)), rng.uniform(size=(2, 41_000))
    direct = np.einsum("tn,ni,nj->tij", omega, h, h)
    np.testing.assert_allclose(_weighted_grams(omega, h), direct, rtol=1e-12)
    small = np.einsum("tn,ni,nj->tij", omega[:, :300], h[:300], h[:300])  # the outer products' branch
    np.testing.assert_allclose(_weighted_grams(omega[:, :300], h[:300]), small, rtol=1e-12)
