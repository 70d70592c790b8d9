"""The ``modelcare`` command: config checks, validate/drift on local or S3 files, the registry, the dev stack.

May import every production package; the only production code besides ``dev/`` allowed to import
``dev/`` (the ``seed`` and ``devstack`` commands), and only inside the command that needs it.
"""
