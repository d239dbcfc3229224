"""A small progress bar for the command line (no dependency)."""

from __future__ import annotations

import os
import sys
import time


class Progress:
    """A small progress bar on stderr (only drawn when stderr is a terminal or DEMOKIT_PROGRESS=1)."""

    def __init__(self, total: int, label: str = "demokit", stream=None):
        self.total = max(int(total), 1)
        self.done = 0
        self.label = label
        self.stream = stream or sys.stderr
        self.t0 = time.perf_counter()
        self.enabled = self.stream.isatty() or os.environ.get("DEMOKIT_PROGRESS") == "1"

    def step(self, what: str) -> None:
        self.done += 1
        if not self.enabled:
            return
        width = 24
        filled = int(width * self.done / self.total)
        bar = "#" * filled + "-" * (width - filled)
        elapsed = time.perf_counter() - self.t0
        self.stream.write(f"\r{self.label} [{bar}] {self.done}/{self.total} {what:<28.28} {elapsed:6.1f}s")
        if self.done >= self.total:
            self.stream.write("\n")
        self.stream.flush()
