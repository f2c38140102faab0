"""What every task module shares: the run logger, one error that says whether retrying can
help, the retry conditions built on it and the options most tasks take.

Tasks are also called outside a flow run (the ``cwh`` commands call the same functions), so
the logger falls back to the standard ``logging`` tree there.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, TypeAlias

from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun
from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger

Logger: TypeAlias = logging.Logger | logging.LoggerAdapter[logging.Logger]
RetryCondition: TypeAlias = Any


def run_logger(name: str) -> Logger:
    """The run logger inside a flow or task run, the logger ``name`` elsewhere (CLI use)."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger(name)


class OutsideSystemError(RuntimeError):
    """A step against an outside system failed: which system and endpoint, and why.

    ``permanent`` errors (refused, missing, misconfigured) fail the same way on every try and
    are not retried; the others (connection lost, 5xx, timeouts) are. Subclasses name the
    system in ``system``, which starts the message.
    """

    system = ""

    def __init__(self, endpoint: str, cause: str, *, permanent: bool = True) -> None:
        prefix = f"{self.system} " if self.system else ""
        super().__init__(f"{prefix}{endpoint}: {cause}")
        self.endpoint = endpoint
        self.cause = cause
        self.permanent = permanent


def is_permanent(error: BaseException) -> bool:
    """Whether retrying ``error`` cannot help: it says so itself (``permanent``)."""
    return bool(getattr(error, "permanent", False))


def retry_unless_permanent(_task: Any, _task_run: TaskRun, state: State[Any]) -> bool:
    """Retry a failed run unless its error is permanent."""
    try:
        state.result()
    except Exception as error:
        return not is_permanent(error)
    return True


def retry_on_os_error(_task: Any, _task_run: TaskRun, state: State[Any]) -> bool:
    """Retry file-system failures only; anything else would fail the same way again."""
    error = state.result(raise_on_failure=False)
    return isinstance(error, OSError)


def retrying(
    retries: int = 2,
    delay: float | Sequence[float] = 3,
    condition: RetryCondition = retry_unless_permanent,
) -> dict[str, Any]:
    """Options of a task that talks to an outside system: retried unless the error is
    permanent, and never cached (every run must see the system as it is now)."""
    return {
        "retries": retries,
        "retry_delay_seconds": delay if isinstance(delay, int | float) else list(delay),
        "retry_condition_fn": condition,
        "cache_policy": NO_CACHE,
    }


NOT_CACHED: dict[str, Any] = {"cache_policy": NO_CACHE}
"""Options of a task whose result depends on the world, not only on its parameters."""
