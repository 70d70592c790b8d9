"""One botocore data loader for every boto3 session the demo's process makes (``make demo``, ``make up``).

Why: every Airflow AWS hook builds a new boto3 session, and every new botocore session parses the same
service-model JSON files again (S3, SageMaker, Lambda, SNS, CloudWatch: megabytes of JSON). A worker
pays that once per task process; the demo runs ~130 tasks in one process with ``dag.test()`` and paid
it ~200 times: 56 s of a 214 s run on this 2-core machine under load (about a quarter), 0.28 s per
hook client. With one loader the files are parsed once; a session with its loader cached makes its
clients in ~0.03 s. Nothing else changes: the same clients, the same requests, the same endpoint and
credentials per session (the loader holds only the parsed files, read from the first session's data
path, ``$AWS_DATA_PATH`` included). botocore already shares the parsed dicts between the clients of
one session, so sharing them between sessions is the same reuse; the Amazon provider does the same for
its async sessions (``base_aws._loader``, boto/botocore#3078).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def shared_botocore_loader() -> Iterator[None]:
    """While open, every new botocore session (hence boto3 session) uses one shared data loader."""
    import botocore.session

    original = botocore.session.get_session
    shared: list[Any] = []

    def get_session(env_vars: Any = None) -> Any:
        session = original(env_vars)
        if shared:
            session.register_component("data_loader", shared[0])
        else:
            shared.append(session.get_component("data_loader"))
        return session

    botocore.session.get_session = get_session
    try:
        yield
    finally:
        botocore.session.get_session = original
