"""Storage: objects by URI (S3 through a given client, or local paths) with conditional writes
(``objects``), and tables in parquet/CSV (``tables``).

Imports errors only (boto3 and pandas inside functions). The S3 client comes from the caller: the
amazon provider's hook inside Airflow, the standard AWS environment in the CLI.
"""
