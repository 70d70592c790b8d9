"""What modelcare measures, in CloudWatch: the PutMetricData requests (``cloudwatch``, pure: figures in,
requests out, no I/O) and their publication exactly once per datapoint (``publish``: a write-once S3 marker
per batch, metric and revision, claimed before the call and marked published after it).

Imports config, errors, quality (the drift ranking) and storage; the CloudWatch client comes from the amazon
provider's hook (inside a function). No Airflow task code: ``tasks.metrics`` and ``tasks.deploy_finish`` read
the figures from XCom and S3 and call it.
"""
