"""Writing output files so that a reader never sees half of one.

Every file the package writes goes to a temporary name in the target folder and is renamed into
place; an interrupted write leaves the old file (or none), never a truncated one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from .errors import OptionError


def current_umask() -> int:
    """The process's file-creation mask (reading it means setting it, so it is set back at once)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: str | Path, payload: str | bytes) -> Path:
    """Write ``payload`` (text as UTF-8) to ``path`` through a temporary file renamed into place.

    The file gets ordinary permissions (0666 less the umask), not the private ones of a temporary file.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> write_atomic(folder / "a.txt", "hello").read_text(), sorted(p.name for p in folder.iterdir())
    ('hello', ['a.txt'])
    """
    path = Path(path)
    if path.is_dir():
        raise OptionError(f"{path}: is a folder; cannot write a file there")
    tmp = _stage(path, payload)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def check_output_file(path: str | Path, option: str) -> Path:
    """Refuse, before any work, a file target that cannot be written: a folder, a missing or read-only folder.

    Probing with a temporary file (removed at once) is the only test that holds for root and for
    file systems such as ``/proc`` where permission bits do not tell.

    Examples
    --------
    >>> import tempfile
    >>> try:
    ...     check_output_file(tempfile.mkdtemp(), "--output")
    ... except OptionError as exc:
    ...     print(str(exc).split(": ", 1)[1])
    is a folder; give a file name inside it
    """
    path = Path(path)
    if path.is_dir():
        raise OptionError(f"{option} {path}: is a folder; give a file name inside it")
    _check_folder_writable(path.parent, f"{option} {path}")
    return path


def check_output_folder(path: str | Path, option: str) -> Path:
    """Refuse, before any work, a folder target that is an existing file or whose parent cannot be written."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OptionError(f"{option} {path}: is a file; give a folder (new or existing)")
    _check_folder_writable(path if path.is_dir() else path.parent, f"{option} {path}")
    return path


def _check_folder_writable(folder: Path, what: str) -> None:
    if not folder.exists():
        raise OptionError(f"{what}: folder {folder} does not exist")
    if not folder.is_dir():
        raise OptionError(f"{what}: {folder} is not a folder")
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".powerlaw-stats.", suffix=".probe")
    except OSError as exc:
        raise OptionError(f"{what}: cannot write in {folder} ({exc.strerror or exc}); choose another place") from None
    os.close(fd)
    os.unlink(probe)


def write_together(files: Mapping[Path, str | bytes]) -> list[Path]:
    """Write several files so that all of them land or none does.

    Each is first written under a temporary name beside its target (folders it needs are
    created); only when every one is written are they renamed into place. On any failure,
    Ctrl-C included, the temporary files and the folders this call created are removed.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> [p.name for p in write_together({folder / "figs" / "a.png": b"1", folder / "out.json": "{}"})]
    ['a.png', 'out.json']
    """
    created: list[Path] = []
    staged: list[tuple[Path, Path]] = []
    try:
        for path, payload in files.items():
            path = Path(path)
            if path.is_dir():
                raise OptionError(f"{path}: is a folder; cannot write a file there")
            _make_folders(path.parent, created)
            staged.append((_stage(path, payload), path))
        for tmp, path in staged:
            os.replace(tmp, path)
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        for folder in reversed(created):
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return [path for _, path in staged]


def _stage(path: Path, payload: str | bytes) -> Path:
    """Write ``payload`` to a temporary file beside ``path`` with ordinary permissions; return its name."""
    data = payload.encode("utf-8") if isinstance(payload, str) else payload
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o666 & ~current_umask())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def _make_folders(folder: Path, created: list[Path]) -> None:
    """Create ``folder`` and missing parents, recording each new one (outermost first)."""
    missing = [f for f in (folder, *folder.parents) if not f.exists()][::-1]
    for f in missing:
        f.mkdir()
        created.append(f)
