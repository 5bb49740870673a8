"""Run package code against a temporary CITYPEERS_HOME, restoring the environment after."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def temporary_home(home: Path) -> Iterator[Path]:
    previous = os.environ.get("CITYPEERS_HOME")
    os.environ["CITYPEERS_HOME"] = str(home)
    try:
        yield home
    finally:
        if previous is None:
            os.environ.pop("CITYPEERS_HOME", None)
        else:
            os.environ["CITYPEERS_HOME"] = previous
