"""Airflow adapters: what every DAG shares (``defaults``), Param forms derived from the config schema
(``params``), alerts through Airflow's SMTP and SNS notifiers (``alerts``), the approval operator
(``approval``) and the deferrable bake operator (``bake``).

Imports Airflow and the production packages; DAG files import it at parse time, so nothing heavy at
module level.
"""
