"""The task bodies of the DAGs, one module per DAG (``monitoring``, ``retraining``, ``deployment``,
``catalog``), the run context (``context``: ``RunInfo``, ``task_setup``) and the single error
boundary (``boundary``).

Each function here is what one DAG task calls: it reads the run, does I/O, calls the pure decisions in
``policy`` and the domain packages, and returns a small typed record for XCom. May import every
production package; never ``dev/``.
"""
