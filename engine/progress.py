"""Progress reporting for long work: one line per step on stderr, with elapsed time."""
from __future__ import annotations

import sys
import time


class Progress:
    """Print ``[12.3s] stage: message`` lines; ``bar`` draws a textual bar for counted work.

    ``Progress(quiet=True)`` swallows everything (tests, ``--json`` output stays clean on stdout
    either way because progress goes to stderr).
    """

    def __init__(self, quiet: bool = False, stream=None):
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.start = time.perf_counter()

    def __call__(self, stage: str, message: str = "") -> None:
        if not self.quiet:
            print(f"[{time.perf_counter() - self.start:6.1f}s] {stage}: {message}", file=self.stream, flush=True)

    def bar(self, stage: str, done: int, total: int, extra: str = "") -> None:
        if self.quiet or total <= 0:
            return
        width = 24
        filled = int(width * done / total)
        self(stage, f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {extra}".rstrip())


QUIET = Progress(quiet=True)
