"""Reading only the columns a model uses (``columns="used"``, what ``fit`` and ``bptest`` do).

The promise: the same numbers bit for bit and the same refusal, word for word, as reading the
whole table. Every case fits twice in process, once with ``columns="all"`` and once with
``columns="used"``, and compares estimates, standard errors, residuals, weights and dropped-row
counts by their bytes, or the error's type and message. The cases are this file's own awkward
tables and every file-based ``fit`` case of ``test_bad_inputs_extra.py``. No tolerances: equality.
"""

from __future__ import annotations

import gzip
import shlex
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_bad_inputs_extra import CASES  # rootdir-relative, as test_backtest_ray imports test_backtest

import powerlaw_stats as ps
from powerlaw_stats.data.frame import Inputs, model_frame
from powerlaw_stats.data.pruning import columns_to_read, header_names, text_lines_are_regular
from powerlaw_stats.errors import PowerlawStatsError
from powerlaw_stats.formula import parse

CURVES = Path(__file__).parent / "data" / "curves_a.csv"
FORMULA = "log_err ~ I(log2(TS)-IXMin)*(mix+CinicTr*CinicEv)"
SMALL = pd.DataFrame({"y": [1.0, 2.1, 2.9, 4.2, 5.1, 5.8, 7.2, 7.9], "x": [1.0, 2, 3, 4, 5, 6, 7, 8],
                      "z": [3.0, 1, 4, 1, 5, 9, 2, 6], "g": list("aabbabab")})
SMALL_CSV = SMALL.to_csv(index=False)


def outcome(formula: str, data: Path, columns: str, **kwargs) -> tuple:
    """What a fit gives: its numbers as bytes, or the refusal's type and message."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = ps.fit(formula, data, columns=columns, **kwargs)
    except PowerlawStatsError as exc:
        return type(exc).__name__, str(exc)
    return (tuple(res.params.index), res.params.to_numpy().tobytes(), res.bse.to_numpy().tobytes(),
            res.resid.to_numpy().tobytes(), res.resid.index.to_numpy().tobytes(), res.weights.to_numpy().tobytes(),
            res.nobs, res.dropped_rows, tuple(sorted(res.model.dropped.items())))


def assert_same(formula: str, data: Path, **kwargs) -> tuple:
    whole = outcome(formula, data, "all", **kwargs)
    assert outcome(formula, data, "used", **kwargs) == whole
    return whole


# ----------------------------------------------------------------------------- the same numbers


@pytest.mark.parametrize("kwargs", [
    {"method": "huber", "weights": "w"},
    {"method": "ols", "weights": "1/trials", "where": "train_set == 'cinic10' or TS > 5000"},
    {"method": "bisquare", "let": ["k=log2(TS)-IXMin", "IXMin=10"], "weights": "w", "vcov": "CR1", "cluster": "run_id"},
])
def test_schema_table_same_numbers(tmp_path, kwargs):
    path = tmp_path / "curves.csv"
    path.write_bytes(CURVES.read_bytes())
    assert len(assert_same(FORMULA, path, **kwargs)) > 2  # a fit, not a refusal


def test_only_the_needed_columns_are_read():
    inputs = Inputs(weights="w", where="eval_set == 'cinic10'", columns="used")
    variables = ["log_err", "TS", "IXMin", "mix"]
    assert columns_to_read(CURVES, inputs, variables, ["run_id"]) == [
        "run_id", "eval_set", "mixup", "trials", "train_size", "error"]
    mf = model_frame(Inputs(data=CURVES, weights="w", columns="used"), ["log_err", "TS", "mix"])
    assert "width" not in mf.frame.columns and "log_err" in mf.frame.columns
    full = model_frame(Inputs(data=CURVES, weights="w"), ["log_err", "TS", "mix"])
    assert mf.frame["log_err"].to_numpy().tobytes() == full.frame["log_err"].to_numpy().tobytes()


def test_a_data_frame_is_used_as_given():
    frame = pd.read_csv(CURVES)
    res = ps.fit(FORMULA, frame, weights="w", columns="used")
    assert set(frame.columns) <= set(res.data.columns)


def test_parquet_and_gzip(tmp_path):
    frame = pd.read_csv(CURVES)
    frame.to_parquet(tmp_path / "c.parquet")
    (tmp_path / "c.csv.gz").write_bytes(gzip.compress(CURVES.read_bytes()))
    for name in ("c.parquet", "c.csv.gz"):
        assert header_names(tmp_path / name) == list(frame.columns)
        assert len(assert_same(FORMULA, tmp_path / name, weights="w", method="huber")) > 2
    indexed = frame.set_index(pd.Index(np.arange(len(frame)) * 3 + 7))  # a stored index labels the residuals
    indexed.to_parquet(tmp_path / "i.parquet")
    assert len(assert_same(FORMULA, tmp_path / "i.parquet", weights="w")) > 2


# ----------------------------------------------------------------------------- the same refusals

# name: (formula, file text, options, whether the columns are read in part: else the scan or the names send it whole)
TABLES = {
    "misspelled column": ("y ~ xx", SMALL_CSV, {}, False),
    "misspelled weights": ("y ~ x", SMALL_CSV, {"weights": "zz"}, False),
    "let reads a later let": ("y ~ x", SMALL_CSV, {"let": ["a=b*2", "b=x"]}, False),
    "where names no column": ("y ~ x", SMALL_CSV, {"where": "q > 1"}, False),
    "where on an unused column": ("y ~ x", SMALL_CSV, {"where": "z > 1"}, True),
    "ragged row in an unused column": ("y ~ x", SMALL_CSV.replace(",a\n", ",a,9\n", 1), {}, False),
    "missing fields": ("y ~ x", SMALL_CSV.replace(",3.0,", ",", 1).replace("1.0,1.0,", "1.0,1.0\n", 1), {}, True),
    "bad byte in an unused column": ("y ~ x", SMALL_CSV.replace(",a\n", ",\udcff\n", 1), {}, False),
    "quoted fields": ("y ~ x", SMALL.assign(g=["a,b", "c"] * 4).to_csv(index=False), {}, False),
    "duplicated unused header": ("y ~ x", SMALL_CSV.replace(",g\n", ",z\n", 1), {}, False),
    "empty unused header": ("y ~ x", SMALL_CSV.replace(",g\n", ",\n", 1), {}, False),
    "header one short (an index column)": ("y ~ x", SMALL.to_csv(index=True).replace(",y,", "y,", 1), {}, False),
    "stray text in a used column": ("y ~ x", SMALL_CSV.replace("\n5.1,5.0,", "\n5.1,five,", 1), {}, True),
    "stray text in an unused column": ("y ~ x", SMALL_CSV.replace(",9.0,", ",nine,", 1), {}, True),
    "NA rows dropped": ("y ~ x", SMALL_CSV.replace("\n2.9,3.0,", "\n,3.0,", 1), {"weights": "z"}, True),
    "lone CR line ends": ("y ~ x", SMALL_CSV.replace("\n", "\r"), {}, False),
    "log of a negative": ("y ~ log(x - 3)", SMALL_CSV, {}, True),
}


@pytest.mark.parametrize("name", list(TABLES))
def test_awkward_tables_same_outcome(tmp_path, name):
    formula, text, kwargs, in_part = TABLES[name]
    path = tmp_path / "d.csv"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    inputs = Inputs(data=path, columns="used", **{k: tuple(v) if k == "let" else v for k, v in kwargs.items()})
    assert (columns_to_read(path, inputs, parse(formula).variables, []) is not None) is in_part
    assert_same(formula, path, **kwargs)


def test_misspelled_column_lists_every_column(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(SMALL.assign(**{f"extra_{k}": 1.0 for k in range(3)}).to_csv(index=False))
    kind, message = assert_same("y ~ q", path)
    assert "'q'" in message and "extra_2" in message


_OPTIONS = {"-f": "formula", "--formula": "formula", "--where": "where", "--weights": "weights", "--method": "method",
            "--let": "let", "--maxit": "maxit", "--acc": "acc", "--cluster": "cluster", "--vcov": "vcov", "--na": "na"}


def _library_call(args: tuple[str, ...]) -> tuple[str, str, dict] | None:
    """A bad-inputs CLI case as a library call, or None when it uses an option this translation skips."""
    if args[0] != "fit" or len(args) < 2 or args[1].startswith("-"):
        return None
    kwargs: dict = {}
    rest = list(args[2:])
    while rest:
        option = rest.pop(0)
        if option not in _OPTIONS or not rest:
            return None
        value = rest.pop(0)
        key = _OPTIONS[option]
        if key == "let":
            kwargs.setdefault("let", []).append(value)
        else:
            kwargs[key] = int(value) if key == "maxit" else float(value) if key == "acc" else value
    formula = kwargs.pop("formula", None)
    return (args[1], formula, kwargs) if formula else None


BAD_INPUT_FITS = {name: call for name, case in CASES.items() if (call := _library_call(case.args))}


@pytest.mark.parametrize("name", list(BAD_INPUT_FITS))
def test_bad_input_cases_same_outcome(tmp_path, name):
    target, formula, kwargs = BAD_INPUT_FITS[name]
    for file, payload in CASES[name].files.items():
        (tmp_path / file).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / file).write_bytes(payload)
    assert_same(formula, tmp_path / target, **kwargs)


def test_translation_covers_the_file_cases():
    assert len(BAD_INPUT_FITS) >= 40, shlex.join(sorted(BAD_INPUT_FITS))


# ----------------------------------------------------------------------------- the scan


@pytest.mark.parametrize(("data", "regular"), [
    (b"y,x\n1,2\n3,4\n", True),
    (b"y,x\n1,2\n3,4", True),  # no line end at the end
    (b"y,x\n1\n\n3,4\n", True),  # fewer fields: pandas fills NA either way
    (b"y,x\r\n1,2\r\n", True),
    (b"y,x\n1,2\n3,4,5\n", False),
    (b"y,x\n1,2\n3,4,5", False),
    (b"y,x\r1,2\r", False),
    (b'y,x\n"a,b",2\n', False),
    (b"y,x\n1,\xff\n", False),
])
def test_scan(tmp_path, data, regular):
    (tmp_path / "t.csv").write_bytes(data)
    assert text_lines_are_regular(tmp_path / "t.csv", ",") is regular


def test_scan_across_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr("powerlaw_stats.data.pruning._BLOCK", 7)
    (tmp_path / "t.csv").write_bytes(b"y,x\n1,2\n333333333333,4\n5,6\n")
    assert text_lines_are_regular(tmp_path / "t.csv", ",")
    (tmp_path / "t.csv").write_bytes(b"y,x\n1,2\n333333333333,4\n5,6,7\n")
    assert not text_lines_are_regular(tmp_path / "t.csv", ",")


def test_cli_fit(tmp_path):
    from typer.testing import CliRunner

    from powerlaw_stats.cli import app

    path = tmp_path / "d.csv"
    path.write_text(SMALL_CSV.replace(",9.0,", ",nine,", 1))
    out = CliRunner().invoke(app, ["fit", str(path), "-f", "y ~ q"])  # a misspelling: the whole header is listed
    assert out.exit_code == 1 and "no column 'q' in the data; columns are y, x, z, g" in out.output
    out = CliRunner().invoke(app, ["fit", str(path), "-f", "y ~ x", "--format", "json"])  # the stray "nine" is not read
    assert out.exit_code == 0, out.output
