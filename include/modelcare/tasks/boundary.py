"""The single error boundary of every task body (house rule 6).

A modelcare domain error (``ModelcareError``: a bad batch, a refused version, a failed gate, a smoke test
that got no predictions) fails the task at once, without retries: retrying cannot make a bad batch good.
Its message (what failed, the figures, where the details are) becomes the task's failure message, and
the original error stays reachable as ``__cause__`` for the failure alert. Anything else (S3 or network
trouble, a throttled API, a bug) propagates unchanged, so Airflow's ``retries`` apply.

Airflow's own control-flow exceptions (skip, fail, defer, reschedule) pass through untouched.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator
from typing import NoReturn, ParamSpec, TypeVar

from airflow.sdk.exceptions import AirflowFailException

from include.modelcare.errors import ModelcareError

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


class TaskFailed(AirflowFailException):
    """A domain error reached the boundary: the task fails without retries (``__cause__`` is the error)."""


@contextlib.contextmanager
def boundary(
    step: str,
    *,
    note: Callable[[str], None] | None = None,
    domain: tuple[type[BaseException], ...] = (),
) -> Iterator[None]:
    """Turn a domain error raised inside into ``TaskFailed`` with the message ``"<step>: <error>"``.

    ``note(message)`` is called first (e.g. the deployment writes ``failure.json`` for its rollback);
    ``domain`` adds exception types that count as final for this step (e.g. a SageMaker ``ClientError``
    refusing a request), besides ``ModelcareError``.
    """
    try:
        yield
    except AirflowFailException:
        raise
    except ModelcareError as exc:
        _fail(step, exc, note)
    except Exception as exc:
        if domain and isinstance(exc, domain):
            _fail(step, exc, note)
        raise


def _fail(step: str, exc: BaseException, note: Callable[[str], None] | None) -> NoReturn:
    message = f"{step}: {exc}"
    log.error(message)
    if note is not None:
        note(message)
    raise TaskFailed(message) from exc


def task_boundary(func: Callable[P, R]) -> Callable[P, R]:
    """Decorator form of ``boundary`` for a whole task body, named after the function."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with boundary(func.__name__):
            return func(*args, **kwargs)

    return wrapper
