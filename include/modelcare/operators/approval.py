"""Manual approval of a registered version through Airflow's Required Actions page.

``RegistryApprovalOperator`` is the standard provider's ``ApprovalOperator`` that also writes the
answer into the model registry (who answered, when), so the registry is the record and the
Airflow UI the place where people decide. Reject skips the hand-off; a timeout fails the task,
leaves the version pending and alerts through the task's failure callback.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator, HITLOperator
from airflow.sdk import BaseNotifier

from include.modelcare.tasks import retraining


class RegistryApprovalOperator(ApprovalOperator):
    """ApprovalOperator whose answer becomes the version's registry status (Approved / Rejected)."""

    def __init__(self, *, model_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model_name = model_name

    def execute(self, context: Any) -> Any:
        # The request shows every gate metric beside the champion's (read from this run's evaluation).
        self.body = retraining.approval_body(self.model_name, context, self.body or "")
        return super().execute(context)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        # Record first: if writing the registry fails, the task fails and nothing downstream runs.
        if "error" not in event:
            chosen = (event.get("chosen_options") or ["?"])[0]
            who = event.get("responded_by_user")
            if isinstance(who, Mapping):
                name = who.get("name") or who.get("id")
            else:
                name = getattr(who, "name", None) or getattr(who, "id", None)
            retraining.record_approval(self.model_name, context, chosen, str(name) if name else None)
        return super().execute_complete(context=context, event=event)


class ApprovalNeededAlert(BaseNotifier):
    """Notifier of the approval task: email + SNS carrying the link to the Required Actions page."""

    template_fields = ()

    def __init__(self, model_name: str) -> None:
        super().__init__()
        self.model_name = model_name

    def notify(self, context: Any) -> None:
        link = HITLOperator.generate_link_to_ui_from_context(context=context)
        retraining.approval_needed_alert(self.model_name, context, link)
