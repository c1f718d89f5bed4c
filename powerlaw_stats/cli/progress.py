"""One progress bar for the commands that simulate (simulate, plan, report), on stderr."""

from __future__ import annotations

import sys
from typing import Any


class ProgressBar:
    """A rich progress bar on stderr while trials run; none when ``quiet`` or stderr is not a terminal.

    Used as a context manager, it gives the callback to hand to the library: ``update(done, total)``,
    or ``update(what, done, total)`` when the work has named phases (the report).
    """

    def __init__(self, quiet: bool, label: str = "simulating") -> None:
        self.show = not quiet and sys.stderr.isatty()
        self.label = label
        self.bar: Any = None
        self.task: Any = None

    def __enter__(self) -> ProgressBar | None:
        """Start the bar; None when there is none to show."""
        if not self.show:
            return None
        from rich.console import Console  # rich's progress only when a bar is shown
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            console=Console(stderr=True), transient=True)
        self.bar.__enter__()
        return self

    def __call__(self, *args: Any) -> None:
        """``(done, total)`` or ``(what, done, total)``: move the bar."""
        what, done, total = args if len(args) == 3 else (self.label, *args)
        if self.task is None:
            self.task = self.bar.add_task(what, total=total)
        self.bar.update(self.task, description=what, completed=done, total=total)

    def __exit__(self, *exc: object) -> None:
        """Close the bar."""
        if self.bar is not None:
            self.bar.__exit__(*exc)
