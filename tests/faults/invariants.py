"""The invariants every fault scenario asserts, as plain checks that return what broke.

Why functions returning a list of problems (empty: the invariant holds) rather than asserts: a sweep
injects dozens of faults and wants the whole matrix (fault -> what broke), not the first failure.
Every check reads the emulator directly (never through the fault proxy), so a rule left in the proxy
cannot hide or cause a violation.

API (small on purpose; the registry fault tests import it too):

- ``production_served(config, store, client)``: ``production`` is unset or names a version that one
  of the model's targets serves (SageMaker endpoint config / Lambda alias, read from the emulator).
- ``one_deployment_record(config, store, run_id)``: exactly one deployment record for the run, with an
  outcome and, unless deployed, the reason; consistent with ``production``.
- ``one_alert_per_event(mails, sns)``: no alert (subject + summary) delivered twice on one channel.
- ``no_half_written_version(config, store)``: every version folder is committed and every artifact of
  every visible version matches its sha256 (a claimed, uncommitted folder counts: check after the
  re-run that resumes it).
- ``batch_consistent(config, store, day)``: a batch is validated or quarantined, never both; a
  quarantined batch is never consumed (no drift report, retraining request or performance of it);
  at most one retraining request.
- ``served_versions(config, client)``: ``{target: version it serves}`` (what (a) compares with).
- ``check(*problem_lists)``: flattens them (``assert not check(...)`` in a single test).

``client`` is a ``service name -> boto3 client`` callable on the emulator, e.g. ``devstack.client``;
``store`` an ``ObjectStore`` on the emulator (not the proxy), e.g. ``harness.store``.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from include.modelcare.config.schema import ModelConfig
    from include.modelcare.storage.objects import ObjectStore

__all__ = [
    "batch_consistent",
    "check",
    "no_half_written_version",
    "one_alert_per_event",
    "one_deployment_record",
    "production_served",
    "served_versions",
]

Client = Callable[[str], Any]  # service name -> boto3 client on the emulator (``DevStack.client``)


def check(*problems: Iterable[str]) -> list[str]:
    """Every problem of the given checks, in order (empty: all invariants hold)."""
    return [p for group in problems for p in group]


def _production(config: ModelConfig, store: ObjectStore) -> int | None:
    from include.modelcare.registry.reader import RegistryReader

    alias = RegistryReader(config, store).alias("production")
    return alias.version if alias is not None else None


def served_versions(config: ModelConfig, client: Client) -> dict[str, int | None]:
    """``{target: registry version it serves}`` for each configured target that exists on the emulator."""
    from include.modelcare.deploy.targets.lambda_alias import LambdaAlias
    from include.modelcare.deploy.targets.sagemaker import SageMakerEndpoint

    served: dict[str, int | None] = {}
    deploy = config.deploy
    if deploy is None:
        return served
    if deploy.sagemaker is not None:
        live = SageMakerEndpoint.from_config(config, client("sagemaker")).live()
        if live.exists:
            served["sagemaker"] = live.version
    if deploy.lambda_ is not None:
        live = LambdaAlias.from_config(config, client("lambda")).live()
        if live.exists:
            served["lambda"] = live.version
    return served


def production_served(config: ModelConfig, store: ObjectStore, client: Client) -> list[str]:
    """(a) ``production`` is unset or points at a version that a target serves."""
    production = _production(config, store)
    if production is None:
        return []
    served = served_versions(config, client)
    if production in served.values():
        return []
    return [f"production -> v{production}, but the targets serve {served or 'nothing'}"]


def one_deployment_record(config: ModelConfig, store: ObjectStore, run_id: str, *, planned: bool = True) -> list[str]:
    """(b) Exactly one record of ``run_id`` saying what happened (none allowed when nothing was ``planned``)."""
    from include.modelcare.registry.deployments import OUTCOMES, DeploymentHistory

    records = [e for e in DeploymentHistory(config, store).entries() if e.get("run_id") == run_id]
    if not records:
        return [f"no deployment record of run {run_id}"] if planned else []
    if len(records) > 1:
        return [f"{len(records)} deployment records of run {run_id}: {[r.get('outcome') for r in records]}"]
    record = records[0]
    problems = []
    outcome = record.get("outcome")
    if outcome not in OUTCOMES:
        problems.append(f"record of {run_id}: outcome {outcome!r}")
    if outcome != "deployed" and not record.get("failure"):
        problems.append(f"record of {run_id}: {outcome} without a reason")
    production = _production(config, store)
    if outcome == "deployed" and production != record.get("version"):
        problems.append(f"record of {run_id} says deployed v{record.get('version')}, production is v{production}")
    if outcome != "deployed" and production == record.get("version") and record.get("previous_version") is not None:
        problems.append(f"record of {run_id} says {outcome}, but production moved to v{production}")
    return problems


def _summary_of_mail(message: Any) -> str:
    body = message.get_body(preferencelist=("html", "plain"))
    text = body.get_content() if body is not None else ""
    return str(text).split("<p>", 1)[-1].split("</p>", 1)[0]


def one_alert_per_event(mails: list[Any], sns: list[dict[str, Any]]) -> list[str]:
    """(c) At most one alert per event and channel (an event: the alert's subject and summary)."""
    problems = []
    for channel, keys in (
        ("email", [(str(m["Subject"]), _summary_of_mail(m)) for m in mails]),
        ("sns", [(str(m.get("Subject")), str(m.get("Message", "")).split("\n")[2:3]) for m in sns]),
    ):
        counts = Counter(str(k) for k in keys)
        problems += [f"{channel}: {n} alerts for one event: {key[:160]}" for key, n in counts.items() if n > 1]
    return problems


def no_half_written_version(config: ModelConfig, store: ObjectStore) -> list[str]:
    """(d) Every version folder is committed (metadata.json) and every artifact's sha256 matches it."""
    from include.modelcare.registry.reader import RegistryReader

    reader = RegistryReader(config, store)
    problems = []
    folders: dict[str, set[str]] = {}
    for uri in store.list(reader.versions_prefix):
        folder, _, name = uri[len(reader.versions_prefix) :].partition("/")
        folders.setdefault(folder, set()).add(name)
    problems += [
        f"version {f} has no metadata.json (half-written)" for f, n in folders.items() if "metadata.json" not in n
    ]
    for record in reader.versions():
        for name in record.artifacts:
            try:
                reader.load_artifact(record, name)
            except Exception as exc:
                problems.append(f"{record.version_id}/{name}: {exc}")
    return problems


def batch_consistent(config: ModelConfig, store: ObjectStore, day: dt.date) -> list[str]:
    """A batch is validated xor quarantined; a quarantined batch is never consumed; one retraining request."""
    paths = config.paths
    incoming = [u for u in store.list(paths.incoming(day)) if "/_modelcare/" not in u]
    validated = store.exists(paths.validation_result(day))
    quarantined = store.exists(paths.quarantine(day) + "_REASON.json")
    problems = []
    if validated and quarantined:
        problems.append(f"batch {day}: both validated (incoming/.../validation.json) and quarantined")
    if quarantined and incoming:
        problems.append(f"batch {day}: quarantined, yet {len(incoming)} object(s) still under incoming/")
    if quarantined:
        consumed = [
            uri
            for uri in (
                paths.reports(day) + "drift.json",
                paths.reports(day) + "performance.json",
                paths.retrain_request(day),
            )
            if store.exists(uri)
        ]
        problems += [f"batch {day}: quarantined but consumed ({uri})" for uri in consumed]
    requests = [u for u in store.list(paths.retrain_requests()) if paths.partition(day) in u]
    if len(requests) > 1:
        problems.append(f"batch {day}: {len(requests)} retraining requests: {requests}")
    return problems


@dataclass
class Cell:
    """One cell of a sweep's matrix: which write was faulted how, whether the fault fired, how the run (and its
    re-run) ended, and which invariants broke (none: the cell held). ``week``: the monitoring sweep's scenario."""

    write: str
    fault: str
    week: str = ""
    fired: int = 0
    first_run: str = ""
    rerun: str = "-"
    problems: list[str] = field(default_factory=list)

    @property
    def held(self) -> bool:
        return self.fired > 0 and not self.problems
