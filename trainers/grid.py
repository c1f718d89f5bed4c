"""A grid of runs: TOML spec -> run configs (the schema's trial scheme) -> rows appended exactly once.

Resume rests on three rules. Each finished run's rows are appended in one ``write`` of whole lines
and then fsynced; a line cut short by a crash (no trailing newline) is removed before the next
append; and a row whose ``(run_id, eval_set)`` is already in the file is never written again. So a
``kill -9`` at any moment followed by a rerun leaves every ``(run_id, eval_set)`` exactly once.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path

from trainers import code_version
from trainers.config import COMPILE_MODES, DEFAULT_TRAINER, PACKINGS, PRECISIONS, RunConfig, stable_int
from trainers.data import dataset_names, entry, split_of_trial, trials_at
from trainers.errors import ResultsError, SchemaError, SpecError

# ----------------------------------------------------------------------------------------------
# The spec


def _str_list(v: object) -> tuple[str, ...]:
    if not isinstance(v, list) or not v or not all(isinstance(s, str) for s in v):
        raise TypeError("a non-empty list of names")
    return tuple(v)


def _int_list(v: object) -> tuple[int, ...]:
    if not isinstance(v, list) or not v or not all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in v):
        raise TypeError("a non-empty list of positive integers")
    return tuple(v)


def _bool_list(v: object) -> tuple[bool, ...]:
    if not isinstance(v, list) or not v or not all(isinstance(b, bool) for b in v):
        raise TypeError("a non-empty list of true/false")
    return tuple(v)


def _pos_int(v: object) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
        raise TypeError("a positive integer")
    return v


def _int(v: object) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise TypeError("a non-negative integer")
    return v


def _number(v: object) -> float:
    if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
        raise TypeError("a non-negative number")
    return float(v)


def _bool(v: object) -> bool:
    if not isinstance(v, bool):
        raise TypeError("true or false")
    return v


def _choice(*allowed: str) -> Callable[[object], str]:
    def check(v: object) -> str:
        if v not in allowed:
            raise TypeError(f"one of {', '.join(repr(a) for a in allowed)}")
        return str(v)

    return check


# Allowed keys per table, each with its checker; [train] keys map 1:1 onto RunConfig fields.
_GRID_KEYS: dict[str, Callable[[object], object]] = {
    "train_sets": _str_list, "eval_sets": _str_list, "widths": _int_list, "mixup": _bool_list,
    "n_splits": _int_list, "min_trials": _pos_int, "depth": _pos_int, "pool_size": _pos_int,
}
_TRAIN_KEYS: dict[str, Callable[[object], object]] = {
    "epochs": _number, "min_steps": _int, "batch_size": _pos_int, "mixup_alpha": _number, "seed": _int,
    "lr": _number, "momentum": _number, "weight_decay": _number, "warmup": _number,
}
# [engine] keys: how runs execute (RunConfig fields outside the run id); the CLI may override each.
_ENGINE_KEYS: dict[str, Callable[[object], object]] = {
    "packing": _choice(*PACKINGS), "compile": _choice(*COMPILE_MODES), "fused": _bool,
    "cudnn_benchmark": _bool, "precision": _choice(*PRECISIONS),
}


@dataclass(frozen=True)
class GridSpec:
    """A parsed, validated grid spec; ``data`` maps dataset names to absolute folders."""

    data: tuple[tuple[str, str], ...]
    cache_dir: str | None
    train_sets: tuple[str, ...]
    eval_sets: tuple[str, ...]
    widths: tuple[int, ...]
    mixup: tuple[bool, ...]
    n_splits: tuple[int, ...]
    min_trials: int = 4
    depth: int = 8
    pool_size: int | None = None
    train: tuple[tuple[str, float | int], ...] = ()
    engine: tuple[tuple[str, object], ...] = ()


def parse_spec(path: str | Path) -> GridSpec:
    """Read and check a grid spec; every problem is a :class:`SpecError` naming the key and file.

    Examples
    --------
    >>> parse_spec("/no/such/spec.toml")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    trainers.errors.SpecError: spec file not found: /no/such/spec.toml
    """
    path = Path(path)
    raw = _read_toml(path)
    unknown = set(raw) - {"data", "grid", "train", "engine"}
    if unknown or "grid" not in raw or "data" not in raw:
        raise SpecError(f"{path}: a spec has tables [data], [grid] and optionally [train] and [engine]; "
                        f"found {sorted(raw)}")
    grid = _checked(raw["grid"], _GRID_KEYS, "grid", path)
    missing = {"train_sets", "eval_sets", "widths", "mixup", "n_splits"} - set(grid)
    if missing:
        raise SpecError(f"{path}: [grid] lacks {', '.join(sorted(missing))}")
    train = _checked(raw.get("train", {}), _TRAIN_KEYS, "train", path)
    engine = _checked(raw.get("engine", {}), _ENGINE_KEYS, "engine", path)
    data, cache = _data_table(raw["data"], path, set(grid["train_sets"]) | set(grid["eval_sets"]))
    return GridSpec(data=data, cache_dir=cache, train=tuple(sorted(train.items())),
                    engine=tuple(sorted(engine.items())), **grid)


def _read_toml(path: Path) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    if not path.is_file():
        raise SpecError(f"spec file not found: {path}")
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise SpecError(f"{path} is not valid TOML: {err}") from err


def _checked(table: object, keys: dict[str, Callable[[object], object]], name: str, path: Path) -> dict:
    if not isinstance(table, dict):
        raise SpecError(f"{path}: [{name}] must be a table")
    out = {}
    for key, value in table.items():
        if key not in keys:
            raise SpecError(f"{path}: unknown key {key!r} in [{name}] (allowed: {', '.join(sorted(keys))})")
        try:
            out[key] = keys[key](value)
        except TypeError as err:
            raise SpecError(f"{path}: [{name}] {key} must be {err}, got {value!r}") from None
    return out


def _data_table(table: object, path: Path, used: set[str]) -> tuple[tuple[tuple[str, str], ...], str | None]:
    """Dataset folders (relative paths are relative to the spec file; a dataset that ships inside a
    package is found there unless the spec names a folder) and the optional cache folder."""
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        raise SpecError(f"{path}: [data] maps dataset names to folder paths (strings)")
    folders = {k: v for k, v in table.items() if k != "cache"}
    for name in sorted(used | set(folders)):
        if name not in dataset_names():
            raise SpecError(f"{path}: unknown dataset {name!r} (known: {', '.join(dataset_names())})")
    packaged = {name: str(entry(name).locate()) for name in used - set(folders) if entry(name).locate}
    folders = {**packaged, **folders}
    absent = sorted(used - set(folders))
    if absent:
        raise SpecError(f"{path}: [data] gives no folder for {', '.join(absent)}")
    resolve = lambda p: str((path.parent / Path(p).expanduser()).resolve())  # noqa: E731
    cache = resolve(table["cache"]) if "cache" in table else None
    return tuple(sorted((k, resolve(v)) for k, v in folders.items())), cache


def check_data(spec: GridSpec, download: bool = False) -> None:
    """Fail early, before any training, when a dataset folder is missing (or fetch it with ``download``)."""
    from trainers.errors import DataError

    for name, folder in spec.data:
        if Path(folder).is_dir():
            continue
        ds = entry(name)
        if download and ds.download is not None:
            ds.download(Path(folder))
            continue
        raise DataError(f"{name} folder not found: {folder} ({ds.hint})")


# ----------------------------------------------------------------------------------------------
# Expanding a spec into runs


def expand(spec: GridSpec, trainer: str = DEFAULT_TRAINER, engine: dict[str, object] | None = None) -> list[RunConfig]:
    """All runs of a grid, in a fixed order, with the trial scheme and per-run seeds.

    At 1/n of the pool: ``trials = max(n, min_trials)``; trial t trains on part ``t mod n``. Each run's
    seed is a hash of the base seed and the run's coordinates, so it never depends on the order.
    ``engine`` overrides the spec's [engine] options (the CLI's flags); neither changes a run id.

    Examples
    --------
    >>> spec = GridSpec(data=(("cifar10", "/d"),), cache_dir=None, train_sets=("cifar10",),
    ...                 eval_sets=("cifar10",), widths=(16,), mixup=(False,), n_splits=(1, 2, 8))
    >>> [(r.n_splits, r.split) for r in expand(spec)][:6]
    [(1, 0), (1, 0), (1, 0), (1, 0), (2, 0), (2, 1)]
    >>> len(expand(spec))
    16
    """
    base = {**dict(spec.train), **dict(spec.engine), **(engine or {})}
    seed = int(base.pop("seed", 0))
    runs = []
    for train_set in spec.train_sets:
        for width in spec.widths:
            for mixup in spec.mixup:
                for n in spec.n_splits:
                    trials = trials_at(n, spec.min_trials)
                    for trial in range(trials):
                        runs.append(
                            RunConfig(
                                train_set=train_set, eval_sets=spec.eval_sets, n_splits=n,
                                split=split_of_trial(trial, n), trial=trial, trials=trials, width=width,
                                mixup=mixup, depth=spec.depth, pool_size=spec.pool_size, split_seed=seed,
                                seed=stable_int(seed, train_set, width, spec.depth, mixup, n, trial),
                                trainer=trainer, data=spec.data, cache_dir=spec.cache_dir, **base,
                            )
                        )
    return runs


_PER_MEMBER = {"seed", "split", "trial", "trials", "mixup", "mixup_alpha"}


def make_packs(runs: Sequence[RunConfig], size: int) -> list[tuple[RunConfig, ...]]:
    """Group runs that share everything but seed, part, trial and mixup into packs of up to ``size``.

    Examples
    --------
    >>> runs = [RunConfig("cifar10", ("cifar10",), 4, t, t, 4, 16, m) for m in (0, 1) for t in range(4)]
    >>> [len(p) for p in make_packs(runs, 3)]
    [3, 3, 2]
    """
    groups: dict[tuple, list[RunConfig]] = {}
    for run in runs:
        key = tuple((f.name, getattr(run, f.name)) for f in dataclasses.fields(run) if f.name not in _PER_MEMBER)
        groups.setdefault(key, []).append(run)
    return [tuple(g[i : i + size]) for g in groups.values() for i in range(0, len(g), max(1, size))]


# ----------------------------------------------------------------------------------------------
# Schema validation

REQUIRED: dict[str, type] = {
    "run_id": str, "train_set": str, "eval_set": str, "train_size": Integral, "n_splits": Integral,
    "split": Integral, "trial": Integral, "trials": Integral, "width": Integral, "params": Integral,
    "mixup": Integral, "error": Real,
}
RECOMMENDED = ("seed", "mixup_alpha", "epochs", "loss", "train_seconds", "device", "code_version")


def validate_row(row: dict) -> None:
    """Check one row against the learning-curve schema; raise :class:`SchemaError` on the first problem.

    Examples
    --------
    >>> validate_row({"run_id": "a"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    trainers.errors.SchemaError: row of run a (eval set ?): missing columns ...
    """
    where = f"row of run {row.get('run_id', '?')} (eval set {row.get('eval_set', '?')})"
    missing = [c for c in (*REQUIRED, *RECOMMENDED) if c not in row]
    if missing:
        raise SchemaError(f"{where}: missing columns {', '.join(missing)}")
    for col, kind in REQUIRED.items():
        if isinstance(row[col], bool) or not isinstance(row[col], kind):
            raise SchemaError(f"{where}: {col} = {row[col]!r} is not {kind.__name__.lower()}")
    problem = _range_problem(row)
    if problem:
        raise SchemaError(f"{where}: {problem}")


def _range_problem(row: dict) -> str | None:
    checks = (
        (bool(row["run_id"]) and bool(row["train_set"]) and bool(row["eval_set"]), "names must not be empty"),
        (row["train_size"] > 0, f"train_size {row['train_size']} must be > 0"),
        (row["n_splits"] >= 1, f"n_splits {row['n_splits']} must be >= 1"),
        (0 <= row["split"] < row["n_splits"], f"split {row['split']} must be in 0..n_splits-1"),
        (row["trials"] >= 1 and 0 <= row["trial"] < row["trials"], f"trial {row['trial']} must be in 0..trials-1"),
        (row["mixup"] in (0, 1), f"mixup {row['mixup']} must be 0 or 1"),
        (0 < row["error"] <= 1, f"error {row['error']} must be in (0, 1]"),
        (row["params"] > 0 and row["width"] > 0, "width and params must be > 0"),
    )
    return next((msg for ok, msg in checks if not ok), None)


def complete_rows(config: RunConfig, rows: Iterable[dict], seconds: float) -> list[dict]:
    """The trainer's rows with the grid's columns added, checked: one row per eval set, no column
    contradicting the config, every row valid."""
    grid_cols = config.identity()
    defaults = {"epochs": config.epochs, "train_seconds": round(seconds, 3), "device": config.device,
                "code_version": code_version()}
    out = []
    for row in rows:
        clash = sorted(k for k in grid_cols if k in row and row[k] != grid_cols[k])
        if clash:
            raise SchemaError(f"trainer {config.trainer} returned {clash[0]}={row[clash[0]]!r} for run "
                              f"{config.run_id}, but the grid set {grid_cols[clash[0]]!r}")
        out.append({**defaults, **row, **grid_cols})  # equal values by now; the grid's types win
    got = sorted(r.get("eval_set", "?") for r in out)
    if got != sorted(config.eval_sets):
        raise SchemaError(f"trainer {config.trainer} returned eval sets {got} for run {config.run_id}; "
                          f"expected one row for each of {sorted(config.eval_sets)}")
    for row in out:
        validate_row(row)
    return out


def header_for(row: dict) -> list[str]:
    """Column order: the schema's required columns, the recommended ones, then the rest as given.

    Examples
    --------
    >>> header_for({"error": 0.5, "extra": 1, "run_id": "a"})[-2:]
    ['code_version', 'extra']
    """
    first = [*REQUIRED, *RECOMMENDED]
    return first + [c for c in row if c not in first]


# ----------------------------------------------------------------------------------------------
# The results file: lock, repair, read what is done, append atomically


class ResultsFile:
    """An append-only CSV of the learning-curve table, held under an exclusive lock while open."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.header: list[str] | None = None
        self.done: set[tuple[str, str]] = set()
        self._lock: int | None = None

    def __enter__(self) -> ResultsFile:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = os.open(f"{self.path}.lock", os.O_CREAT | os.O_RDWR, 0o644)
        _try_lock(self._lock, self.path)
        if self.path.exists():
            self._repair()
            self._read()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._lock is not None:
            os.close(self._lock)  # releases the lock

    def _repair(self) -> None:
        """Drop a last line cut short by a crash (the only way a line can lack its newline)."""
        with self.path.open("rb+") as f:
            data = f.read()
            if data and not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)

    def _read(self) -> None:
        with self.path.open(newline="") as f:
            reader = csv.reader(f)
            self.header = next(reader, None)
            if self.header is None:
                return
            if "run_id" not in self.header or "eval_set" not in self.header:
                raise ResultsError(f"{self.path} exists but is not a learning-curve table (no run_id/eval_set)")
            i, j = self.header.index("run_id"), self.header.index("eval_set")
            self.done = {(r[i], r[j]) for r in reader if len(r) == len(self.header)}

    def is_done(self, config: RunConfig) -> bool:
        """Whether every eval row of a run is already in the file."""
        return all((config.run_id, e) in self.done for e in config.eval_sets)

    def append(self, rows: Sequence[dict]) -> int:
        """Append the rows not yet present in one write, then fsync; returns how many were written."""
        new = [r for r in rows if (r["run_id"], r["eval_set"]) not in self.done]
        if not new:
            return 0
        if self.header is None:
            self._create(header_for(new[0]))
        self._check_columns(new[0])
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows([[r[c] for c in self.header] for r in new])
        _write_all(self.path, buf.getvalue().encode())
        self.done.update((r["run_id"], r["eval_set"]) for r in new)
        return len(new)

    def _create(self, header: list[str]) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(",".join(header) + "\n")
        os.replace(tmp, self.path)
        self.header = header

    def _check_columns(self, row: dict) -> None:
        if set(row) != set(self.header or ()):
            extra, lacking = sorted(set(row) - set(self.header)), sorted(set(self.header) - set(row))
            raise ResultsError(f"{self.path} has other columns than this trainer writes (new: {extra}, "
                               f"absent: {lacking}); write to another --out")


def _try_lock(fd: int, path: Path) -> None:
    try:
        import fcntl
    except ModuleNotFoundError:  # no advisory locks on this platform: one writer is the user's job
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise ResultsError(f"{path} is being written by another powerlaw-train; wait for it or use another --out") from None


def _write_all(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------------------------
# Running a grid


@dataclass(frozen=True)
class GridSummary:
    """What one invocation did: runs in the grid, already finished before, run now, rows written."""

    out: str
    total_runs: int
    finished_before: int
    ran: int
    rows_written: int
    seconds: float


def pending_runs(runs: Sequence[RunConfig], results: ResultsFile, max_runs: int | None) -> list[RunConfig]:
    """Runs not finished yet, at most ``max_runs`` of them, in grid order."""
    todo = [r for r in runs if not results.is_done(r)]
    return todo if max_runs is None else todo[:max_runs]


def run_grid(
    runs: Sequence[RunConfig],
    out: str | Path,
    backend: object,
    *,
    pack: int = 1,
    max_runs: int | None = None,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> GridSummary:
    """Run every unfinished run through ``backend`` (see :mod:`trainers.backends`), appending rows as
    each finishes; ``progress(done, total)`` is called before the first and after every pack."""
    start = time.perf_counter()
    with ResultsFile(out) as results:
        before = sum(results.is_done(r) for r in runs)
        todo = pending_runs(runs, results, max_runs)
        finished = backend.run(make_packs(todo, pack))  # type: ignore[attr-defined]
        progress(0, len(todo))
        done = written = 0
        for result in finished:
            written += results.append(complete_rows(result.config, result.rows, result.seconds))
            done += 1
            progress(done, len(todo))
    return GridSummary(str(out), len(runs), before, done, written, round(time.perf_counter() - start, 3))
