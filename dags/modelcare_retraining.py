"""Retraining DAGs, one per model config: assemble, train, evaluate, gate, register, approve, hand off.

Wiring only: every task body is one call into ``include.modelcare.tasks.training_set`` (the training
set) or ``include.modelcare.tasks.retraining`` (everything after it). The training backend (local fit
or SageMaker training job) is chosen by the model's config at parse time.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import DAG, Param, TriggerRule, dag, task

from include.modelcare.config.catalog import load_catalog
from include.modelcare.config.schema import ModelConfig, TrainingConfig
from include.modelcare.operators.approval import ApprovalNeededAlert, RegistryApprovalOperator
from include.modelcare.operators.defaults import dag_kwargs
from include.modelcare.operators.params import param_from_field
from include.modelcare.tasks import retraining as r
from include.modelcare.tasks import training_set as ts

DOC = """
### Retraining of `{name}`

Trains `{estimator}` ({backend} backend) on the validated, labelled batches of the last
{window} weeks (the most recent {holdout} week(s) are the out-of-time holdout), compares it with the
production model on the same holdout, and registers it in `{registry}`.

Gate: `{metric}` must reach {floor} and beat the champion by at least {min_improvement}.
Approval: **{approval}**{approval_note}. Every candidate is registered, rejected ones too.

Triggered weekly, by the monitoring DAG on drift (the form's `reason`, `drift_report` say why), or
by hand. Hyperparameter overrides are checked against the estimator before anything runs.
"""


def retraining_dag(config: ModelConfig) -> DAG:
    """Wire the retraining DAG of one model."""
    name = config.name
    training = config.training

    @dag(
        **dag_kwargs(
            config,
            "retrain",
            schedule=config.schedules.retraining,
            description=f"Retrain, evaluate, register (and approve) {name}",
            doc_md=DOC.format(
                name=name,
                estimator=training.estimator,
                backend=training.backend,
                window=training.window_weeks,
                holdout=training.holdout_weeks,
                registry=config.paths.registry_root,
                metric=config.primary_metric,
                floor=training.gate.floor if training.gate.floor is not None else "no floor",
                min_improvement=training.gate.min_improvement,
                approval=training.approval,
                approval_note=" (Browse → Required Actions; the alert carries the link)"
                if training.approval == "manual"
                else "",
            ),
        ),
        params={
            "reason": Param("manual", type="string", minLength=1, title="Reason", description="Why this retraining."),
            "window_weeks": param_from_field(
                TrainingConfig,
                "window_weeks",
                default=None,
                nullable=True,
                title="Training window (weeks)",
                description=f"Empty: {training.window_weeks} weeks (config) unless start/end dates are given.",
            ),
            "start_date": Param(None, type=["null", "string"], format="date", title="Window start date"),
            "end_date": Param(
                None, type=["null", "string"], format="date", title="Window end date (default: run date)"
            ),
            "hyperparameters": param_from_field(
                TrainingConfig,
                "params",
                default={},
                title="Hyperparameter overrides",
                description=f"JSON object of {training.estimator} parameters, checked against the estimator.",
            ),
            "force": Param(False, type="boolean", title="Force", description="Retrain even when no new data arrived."),
            "auto_deploy": param_from_field(
                TrainingConfig,
                "auto_deploy",
                default=None,
                nullable=True,
                title="Hand off to deployment",
                description=f"Empty: {training.auto_deploy} (config).",
            ),
            "drift_report": Param(None, type=["null", "string"], title="Drift report (set by monitoring)"),
            "request_uri": Param(None, type=["null", "string"], title="Retraining request (set by monitoring)"),
        },
    )
    def retrain() -> None:
        @task(task_id=r.ASSEMBLE)
        def assemble_training_set(**context: Any) -> dict[str, Any]:
            return ts.assemble_training_set(name, context)

        assembled = assemble_training_set()
        if training.backend == "local":

            @task(task_id=r.TRAIN)
            def train_candidate(**context: Any) -> dict[str, Any]:
                return r.train_candidate(name, context)

            trained = assembled >> train_candidate()
            train_task = r.TRAIN
        else:
            # Imported only for models that train on SageMaker: the operator pulls in boto3.
            from airflow.providers.amazon.aws.operators.sagemaker import SageMakerTrainingOperator

            @task(task_id=r.PREPARE_SAGEMAKER)
            def prepare_sagemaker_job(**context: Any) -> dict[str, Any]:
                return r.prepare_sagemaker_job(name, context)

            @task(task_id=r.COLLECT_SAGEMAKER)
            def collect_sagemaker_model(**context: Any) -> dict[str, Any]:
                return r.collect_sagemaker_model(name, context)

            request = prepare_sagemaker_job()
            job = SageMakerTrainingOperator(
                task_id=r.SAGEMAKER_TRAIN,
                config=request,  # type: ignore[arg-type]  # an XComArg, resolved at run time
                aws_conn_id=config.airflow.aws_conn_id,
                wait_for_completion=True,
                print_log=False,
                check_interval=training.sagemaker.poll_seconds if training.sagemaker else 30,
                action_if_job_exists="fail",
            )
            trained = assembled >> request >> job >> collect_sagemaker_model()
            train_task = r.COLLECT_SAGEMAKER

        @task(task_id=r.EVALUATE)
        def evaluate_candidate(**context: Any) -> dict[str, Any]:
            return r.evaluate_candidate(name, context, train_task)

        @task(task_id=r.REGISTER)
        def register_candidate(**context: Any) -> dict[str, Any]:
            return r.register_candidate(name, context, train_task)

        @task(task_id="alert_registration")
        def alert_registration(**context: Any) -> dict[str, str]:
            return r.alert_registration(name, context)

        @task.branch(task_id=r.ROUTE_APPROVAL)
        def route_approval(**context: Any) -> str:
            return r.route_approval(name, context)

        await_approval = RegistryApprovalOperator(
            task_id=r.AWAIT_APPROVAL,
            model_name=name,
            subject=f"Approve {name} for production?",
            body=f"A new version of **{name}** passed the gate. Its metrics and lineage are in the registry "
            f"({config.paths.registry_root}); the registration alert lists them beside the champion's.",
            notifiers=[ApprovalNeededAlert(name)],
            response_timeout=dt.timedelta(hours=training.approval_timeout_hours),
        )

        @task(task_id=r.HAND_OFF, trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
        def hand_off(**context: Any) -> dict[str, Any]:
            return r.hand_off(name, context)

        registered = trained >> evaluate_candidate() >> register_candidate()
        registered >> alert_registration()
        branch = registered >> route_approval()
        handed = hand_off()
        branch >> await_approval >> handed
        branch >> handed
        if config.deploy is not None:

            @task.short_circuit(task_id=r.SHOULD_DEPLOY)
            def should_deploy(**context: Any) -> bool:
                return r.should_deploy(context)

            trigger = TriggerDagRunOperator(
                task_id=r.TRIGGER_DEPLOYMENT,
                trigger_dag_id=r.deploy_dag_id(name),
                # One deployment run per handed-off version: a re-run of this task does not deploy twice.
                trigger_run_id=f"handoff__{{{{ ti.xcom_pull(task_ids='{r.HAND_OFF}')['version_id'] }}}}",
                conf=f"{{{{ ti.xcom_pull(task_ids='{r.HAND_OFF}')['conf'] | tojson }}}}",  # type: ignore[arg-type]
                skip_when_already_exists=True,
                wait_for_completion=False,
            )
            handed >> should_deploy() >> trigger

    return retrain()


for _config in load_catalog().models.values():
    globals()[f"modelcare_retrain_{_config.name}"] = retraining_dag(_config)
