"""Writing output files so that a reader never sees half of one.

Every file the package writes goes to a temporary name in the target folder and is renamed into
place; an interrupted write leaves the old file (or none), never a truncated one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


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
    data = payload.encode("utf-8") if isinstance(payload, str) else payload
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
