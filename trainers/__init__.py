"""Learning-curve experiments (CIFAR-10, CINIC-10, mixup) that write the learning-curve table.

Independent of ``powerlaw_stats``: the only thing the two share is the table's schema. Modules, in
pipeline order: ``data`` (official formats, cache, splits, overlap) -> ``models`` (ResNets, packing)
-> ``train`` (one run: config -> rows) -> ``grid`` (spec -> runs, resume, schema) -> ``backends``
(local, Ray) -> ``cli`` (``powerlaw-train``).
"""

from __future__ import annotations

import functools
import subprocess
from importlib import metadata
from pathlib import Path

__all__ = ["code_version"]


@functools.cache
def code_version() -> str:
    """Package version, plus the git commit when running from a checkout (``0.1.0+g1f8f9f2``)."""
    try:
        version = metadata.version("powerlaw-stats")
    except metadata.PackageNotFoundError:
        version = "0.1.0"
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
            text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return version
    return f"{version}+g{sha}" if sha else version
