"""Data quality: validation rules as data and their Great Expectations run (``rules``, ``validation``),
and drift against the reference with Evidently's statistics (``drift``).

Imports config, errors and (inside functions) pandas, GX, Evidently, scipy. No Airflow, no S3: callers
pass frames in and write results themselves.
"""
