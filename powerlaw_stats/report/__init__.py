"""The seed study's whole analysis as one HTML page (with Markdown and JSON beside it).

``build_report(...)`` returns a :class:`Report`; ``Report.write(folder)`` writes ``index.html``,
``report.md``, ``results.json`` and ``figures/`` atomically.
"""

from __future__ import annotations

from .builder import Report, build_report

__all__ = ["Report", "build_report"]
