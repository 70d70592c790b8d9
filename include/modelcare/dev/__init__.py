"""Development tools that never ship: the embedded AWS emulator and SMTP sink (``devstack``, ``mail``,
``bootstrap``), the emulator extension for the calls moto lacks (``emulator``), the data simulator
(``simulate``), ``make demo`` (``demo``) and ``make up`` (``up``).

May import anything. Production code outside ``cli/`` never imports it (enforced by ruff TID251 and
``tests/unit/test_layout.py``); it stays out of the SageMaker training tarball and the serving packages.
"""
