"""Is the uid a record claims consistent with who owns the files it points at?

The ``uid`` of an lc_wrapper record is written by the student's own kernel and reaches
the collector over an unauthenticated forward port, so it proves nothing by itself.
The files the record names (its ``.log`` and its result pickle) were created by the
kernel process, which runs as the student: their owner on disk is evidence the student
cannot forge.  A mismatch does not reject the record (the data is kept), it marks the
indexed document ``suspect`` with a reason a teacher or operator can act on.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["check_owner", "file_owner"]


def file_owner(path: Path) -> int | None:
    """The uid owning ``path`` itself (a symlink is not followed), or None if unknown.

    None covers a missing or unreadable file and a path the OS cannot represent; the
    caller treats an unknown owner as "no evidence", not as a mismatch.
    """
    try:
        return os.lstat(path).st_uid
    except (OSError, ValueError):
        return None


def check_owner(claimed_uid: int | None, owners: Mapping[str, int | None]) -> str | None:
    """A human-readable reason why the record looks forged, or None when it does not.

    ``owners`` maps each file the record names (as it should be shown to a reader) to
    the uid owning it, or None where the owner could not be determined; those entries
    are skipped.  Every mismatching file is listed, in the mapping's order.
    """
    known = {path: uid for path, uid in owners.items() if uid is not None}
    if not known:
        return None
    if claimed_uid is None or isinstance(claimed_uid, bool) or not isinstance(claimed_uid, int):
        files = "; ".join(f"{path} is owned by uid {uid}" for path, uid in known.items())
        return f"record claims no valid uid ({claimed_uid!r}) but {files}"
    mismatches = [
        f"{path} is owned by uid {uid}" for path, uid in known.items() if uid != claimed_uid
    ]
    if not mismatches:
        return None
    return f"uid {claimed_uid} claimed but " + "; ".join(mismatches)
