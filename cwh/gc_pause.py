"""Pausing the cyclic garbage collector while a report builds many small objects.

A progress report parses answers of tens of thousands of buckets and builds as many
tuples. Each burst of allocations starts collections that walk every live container and
free nothing, since parsed JSON and counts hold no reference cycles. Reference counting
still frees everything
meanwhile; collection resumes, with its usual thresholds, when the outermost pause ends.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_resume = False


@contextmanager
def collection_paused() -> Iterator[None]:
    """No cyclic collection inside; pauses nest and may overlap across threads."""
    global _depth, _resume
    with _lock:
        if _depth == 0:
            _resume = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _resume:
                gc.enable()
