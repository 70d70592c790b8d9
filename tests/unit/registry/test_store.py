"""The S3 model registry on the embedded emulator: numbering, crash recovery, integrity, CAS, CLI, SageMaker mirror.

The emulator's conditional writes are check-then-write, so interleavings are staged one request at
a time (a writer's step is hooked to run another writer in the middle), never raced.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from include.modelcare.cli.registry import main as registry_main
from include.modelcare.config.catalog import get_model_config
from include.modelcare.config.schema import ModelConfig
from include.modelcare.errors import (
    ArtifactIntegrityError,
    RegistryConflict,
    RegistryMirrorError,
    RegistryStateError,
    VersionNotFound,
)
from include.modelcare.registry.records import run_marker
from include.modelcare.registry.store import ModelRegistry
from include.modelcare.storage.objects import ObjectStore

if TYPE_CHECKING:
    import pandas as pd

    from include.modelcare.dev.devstack import DevStack

pytestmark = pytest.mark.unit

PENDING, APPROVED, REJECTED = "PendingManualApproval", "Approved", "Rejected"


def _config(bucket: str, group: str | None = None) -> ModelConfig:
    base = get_model_config("customer_churn")
    return base.model_copy(
        update={
            "data": base.data.model_copy(update={"bucket": bucket}),
            "registry": base.registry.model_copy(update={"sagemaker_model_package_group": group}),
        }
    )


def _store(devstack: DevStack) -> ObjectStore:
    """A second, independent writer's store (its own client)."""
    return ObjectStore(devstack.client("s3"))


def _reference(rows: int = 50) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({"tenure_months": range(rows), "contract": ["one_year", "two_year"] * (rows // 2)})


def _register(registry: ModelRegistry, run_key: str, *, status: str = APPROVED, **kw: Any) -> Any:
    metadata = kw.pop("metadata", None) or {
        "dag_id": "modelcare_retrain_customer_churn",
        "run_id": run_key,
        "metrics": {"candidate": {"roc_auc": 0.81}, "champion": {"roc_auc": 0.79}},
    }
    return registry.register(
        model_bytes=kw.pop("model_bytes", f"model of {run_key}".encode()),
        reference=kw.pop("reference", None) if "reference" in kw else _reference(),
        metadata=metadata,
        status=status,
        reasons=kw.pop("reasons", ["gate passed"]),
        run_key=run_key,
        actor=kw.pop("actor", "test"),
        **kw,
    )


@pytest.fixture
def config(fresh_bucket: str) -> ModelConfig:
    return _config(fresh_bucket)


@pytest.fixture
def registry(config: ModelConfig, s3_store: ObjectStore) -> ModelRegistry:
    return ModelRegistry(config, s3_store)


def _keys(registry: ModelRegistry) -> list[str]:
    return [u[len(registry.root) + 1 :] for u in registry.store.list(registry.root + "/")]


# -- registering ----------------------------------------------------------------------------------------


def test_register_writes_the_layout_and_reads_back(registry: ModelRegistry) -> None:
    metrics = json.dumps({"roc_auc": 0.81}).encode()
    record = _register(registry, "dag/run-1", extra_artifacts={"metrics.json": metrics})

    assert (record.version, record.version_id, record.status) == (1, "v0001", APPROVED)
    assert record.uri == f"{registry.root}/versions/v0001/"
    assert sorted(_keys(registry)) == [
        "versions/v0001/_claim.json",
        f"versions/v0001/{run_marker('dag/run-1')}",
        "versions/v0001/metadata.json",
        "versions/v0001/metrics.json",
        "versions/v0001/model.skops",
        "versions/v0001/reference.parquet",
    ]
    meta = registry.store.read_json(record.uri + "metadata.json")
    assert meta["run_key"] == "dag/run-1" and meta["dag_id"] == "modelcare_retrain_customer_churn"
    assert meta["status_history"][0] | {"at": None} == {
        "status": APPROVED,
        "at": None,
        "by": "test",
        "why": "gate passed",
    }
    assert set(meta["artifacts"]) == {"model.skops", "reference.parquet", "metrics.json"}
    assert meta["artifacts"]["model.skops"]["bytes"] == len(b"model of dag/run-1")
    assert record.metrics == {"roc_auc": 0.81} and record.champion_metrics == {"roc_auc": 0.79}

    for ref in (1, "1", "v0001", "v1", "latest", "latest-approved"):
        assert registry.get(ref).version == 1
    assert [r.version for r in registry.versions()] == [1]
    assert registry.load_model_bytes(1) == b"model of dag/run-1"
    assert registry.load_reference("latest").equals(_reference())
    assert registry.load_artifact(1, "metrics.json") == metrics


def test_re_registering_the_same_run_returns_the_same_version(registry: ModelRegistry) -> None:
    first = _register(registry, "dag/run-1")
    again = _register(registry, "dag/run-1", model_bytes=b"retrained bytes of the retry")
    assert again.version == first.version == 1
    assert again.metadata == first.metadata
    assert [r.version for r in registry.versions()] == [1]
    assert registry.load_model_bytes(1) == b"model of dag/run-1"
    assert _register(registry, "dag/run-2").version == 2


def test_writer_claiming_while_another_is_between_claim_and_commit_gets_the_next_number(
    config: ModelConfig, registry: ModelRegistry, devstack: DevStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer_b = ModelRegistry(config, _store(devstack))
    seen: dict[str, Any] = {}
    write_artifacts = registry._write_artifacts

    def a_between_claim_and_commit(number: int, artifacts: dict[str, bytes]) -> Any:
        seen["a_claimed"] = number
        seen["b"] = _register(writer_b, "dag/run-B", status=PENDING)  # runs to the end while A waits
        seen["visible_while_a_waits"] = [r.version for r in writer_b.versions()]
        return write_artifacts(number, artifacts)

    monkeypatch.setattr(registry, "_write_artifacts", a_between_claim_and_commit)
    a = _register(registry, "dag/run-A")

    assert seen["a_claimed"] == 1 and a.version == 1
    assert seen["b"].version == 2
    assert seen["visible_while_a_waits"] == [2]  # A's claimed folder is invisible until its commit
    assert [(r.version, r.run_key) for r in registry.versions()] == [(1, "dag/run-A"), (2, "dag/run-B")]
    assert registry.load_model_bytes(1) == b"model of dag/run-A"
    assert registry.load_model_bytes(2) == b"model of dag/run-B"


def test_claim_lost_on_412_moves_to_the_next_number(
    config: ModelConfig, registry: ModelRegistry, devstack: DevStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """B listed before A claimed: B's If-None-Match claim of v0001 gets 412 and B takes v0002."""
    store_b = _store(devstack)
    writer_b = ModelRegistry(config, store_b)
    create = store_b.create_exclusive
    outcomes: list[tuple[str, bool]] = []

    def a_claims_first(uri: str, data: bytes, **kw: Any) -> bool:
        if uri.endswith("v0001/_claim.json") and not outcomes:
            _register(registry, "dag/run-A")
        created = create(uri, data, **kw)
        outcomes.append((uri.rsplit("/", 2)[-2], created))
        return created

    monkeypatch.setattr(store_b, "create_exclusive", a_claims_first)
    b = _register(writer_b, "dag/run-B")
    assert outcomes[:2] == [("v0001", False), ("v0002", True)]
    assert b.version == 2
    assert registry.get(1).run_key == "dag/run-A" and registry.load_model_bytes(1) == b"model of dag/run-A"


def test_crash_before_commit_leaves_nothing_visible_and_the_rerun_resumes(
    config: ModelConfig, registry: ModelRegistry, devstack: DevStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(number: int, doc: dict[str, Any]) -> Any:
        raise RuntimeError("worker killed before metadata.json")

    with monkeypatch.context() as patch:
        patch.setattr(registry, "_commit", crash)
        with pytest.raises(RuntimeError):
            _register(registry, "dag/run-A", model_bytes=b"attempt 1")
    assert "versions/v0001/model.skops" in _keys(registry)
    assert registry.versions() == []
    with pytest.raises(VersionNotFound, match="latest"):
        registry.get("latest")
    with pytest.raises(VersionNotFound, match="v0001"):
        registry.get(1)

    other = _register(ModelRegistry(config, _store(devstack)), "dag/run-B")  # another run meanwhile
    assert other.version == 2

    rerun = _register(registry, "dag/run-A", model_bytes=b"attempt 2")
    assert rerun.version == 1  # resumed into its own claim
    assert registry.load_model_bytes(1) == b"attempt 2"
    assert [(r.version, r.run_key) for r in registry.versions()] == [(1, "dag/run-A"), (2, "dag/run-B")]


def test_crash_between_claim_and_run_marker_still_resumes(
    registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    write = registry.store.write_bytes

    def crash_on_marker(uri: str, data: bytes, **kw: Any) -> None:
        if "/_run-" in uri:
            raise RuntimeError("worker killed after the claim")
        write(uri, data, **kw)

    with monkeypatch.context() as patch:
        patch.setattr(registry.store, "write_bytes", crash_on_marker)
        with pytest.raises(RuntimeError):
            _register(registry, "dag/run-A")
    assert _keys(registry) == ["versions/v0001/_claim.json"]
    assert _register(registry, "dag/run-A").version == 1  # found through the claim's run_key
    assert _register(registry, "dag/run-B").version == 2


def test_twin_attempt_of_the_same_run_commits_once(
    config: ModelConfig, registry: ModelRegistry, devstack: DevStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two attempts of one run (a zombie and its retry): the second resumes into the claim and commits first."""
    twin = ModelRegistry(config, _store(devstack))
    write_artifacts = registry._write_artifacts

    def twin_commits_in_between(number: int, artifacts: dict[str, bytes]) -> Any:
        run_key = "dag/run-A" if number == 1 else "dag/run-C"
        assert _register(twin, run_key).version == number  # resumes into the same claim and commits
        return write_artifacts(number, artifacts)

    monkeypatch.setattr(registry, "_write_artifacts", twin_commits_in_between)
    assert _register(registry, "dag/run-A").version == 1  # lost the commit, same bytes: same version
    assert [r.version for r in registry.versions()] == [1]
    with pytest.raises(RegistryConflict, match=r"different model\.skops"):
        _register(registry, "dag/run-C", model_bytes=b"not what the twin wrote")
    assert [r.version for r in registry.versions()] == [1, 2]


def test_register_refuses_bad_input(registry: ModelRegistry) -> None:
    with pytest.raises(RegistryStateError, match="unknown status"):
        _register(registry, "r", status="Deployed")
    with pytest.raises(RegistryStateError, match="reserved"):
        _register(registry, "r", extra_artifacts={"metadata.json": b"{}"})
    with pytest.raises(RegistryStateError, match="run_key"):
        _register(registry, " ")
    assert registry.versions() == []


# -- integrity --------------------------------------------------------------------------------------------


def test_tampered_artifacts_are_refused_with_both_hashes(registry: ModelRegistry) -> None:
    import hashlib

    record = _register(registry, "dag/run-1")
    model = record.artifacts["model.skops"]
    registry.store.write_bytes(model["uri"], b"evil model")
    with pytest.raises(ArtifactIntegrityError) as err:
        registry.load_model_bytes("latest")
    message = str(err.value)
    assert "model.skops" in message and model["uri"] in message
    assert model["sha256"] in message and hashlib.sha256(b"evil model").hexdigest() in message

    ref = record.artifacts["reference.parquet"]
    raw = registry.store.read_bytes(ref["uri"])
    registry.store.write_bytes(ref["uri"], raw[: len(raw) // 2])
    with pytest.raises(ArtifactIntegrityError, match=rf"reference.parquet .*{ref['sha256']}"):
        registry.load_reference(1)


# -- status ------------------------------------------------------------------------------------------------


def test_status_transitions(registry: ModelRegistry) -> None:
    _register(registry, "dag/run-1", status=PENDING)
    assert registry.get(1).status == PENDING
    with pytest.raises(VersionNotFound, match="latest-approved"):
        registry.get("latest-approved")

    assert registry.approve(1, by="alice", why="looks good").status == APPROVED
    assert registry.approve(1, by="alice", why="retry").status == APPROVED  # no-op, no history entry
    with pytest.raises(RegistryStateError, match="Approved -> PendingManualApproval is not allowed"):
        registry.set_status(1, PENDING, by="bob", why="undo")
    assert registry.reject("v0001", by="bob", why="revoked: leak").status == REJECTED
    with pytest.raises(RegistryStateError, match=r"Rejected -> Approved is not allowed .*force"):
        registry.approve(1, by="carol", why="oops")
    forced = registry.approve(1, by="carol", why="leak was a false alarm", force=True)
    history = forced.metadata["status_history"]
    assert [(h["status"], h["by"]) for h in history] == [
        (PENDING, "test"),
        (APPROVED, "alice"),
        (REJECTED, "bob"),
        (APPROVED, "carol"),
    ]
    assert history[-1]["forced"] is True and history[-1]["from"] == REJECTED
    assert forced.metadata["artifacts"] == registry.get(1).metadata["artifacts"]  # immutable
    assert registry.load_model_bytes(1) == b"model of dag/run-1"


def test_status_change_rechecks_after_losing_the_cas(
    config: ModelConfig, registry: ModelRegistry, devstack: DevStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    _register(registry, "dag/run-1", status=PENDING)
    other = ModelRegistry(config, _store(devstack))
    replace = registry.store.replace_if_match
    calls: list[bool] = []

    def reject_lands_first(uri: str, data: bytes, etag: str, **kw: Any) -> bool:
        if not calls:
            other.reject(1, by="bob", why="bad holdout")
        calls.append(ok := replace(uri, data, etag, **kw))
        return ok

    monkeypatch.setattr(registry.store, "replace_if_match", reject_lands_first)
    with pytest.raises(RegistryStateError, match="Rejected -> Approved"):
        registry.approve(1, by="alice", why="fine")
    assert calls == [False]  # the stale ETag lost; the re-read found Rejected and refused
    assert [h["by"] for h in registry.get(1).metadata["status_history"]] == ["test", "bob"]


# -- aliases -----------------------------------------------------------------------------------------------


def test_alias_moves_with_history_and_refuses_unapproved(registry: ModelRegistry) -> None:
    _register(registry, "r1")
    _register(registry, "r2")
    _register(registry, "r3", status=PENDING)
    assert registry.alias("production") is None and registry.alias_history("production") == []

    registry.set_alias("production", 1, by="alice", why="first", expected=None)
    registry.set_alias("production", "v0002", by="bob", why="better")
    assert registry.set_alias("production", 2, by="bob", why="retry").history[-1]["why"] == "better"  # no-op
    with pytest.raises(RegistryStateError, match="v0003 is PendingManualApproval"):
        registry.set_alias("production", 3, by="bob", why="not yet")
    forced = registry.set_alias("production", 3, by="carol", why="hotfix", force=True)
    assert forced.version == 3 and forced.updated_by == "carol" and forced.reason == "hotfix"
    history = registry.alias_history("production")
    assert [(h["version"], h["previous"], h["by"]) for h in history] == [
        (1, None, "alice"),
        (2, 1, "bob"),
        (3, 2, "carol"),
    ]
    assert history[-1]["forced"] is True
    assert registry.get("production").version == 3
    doc = registry.store.read_json(registry.alias_uri("production"))
    assert {"alias", "version", "updated_at", "updated_by", "reason", "history"} <= set(doc)
    for bad in ("latest", "v0002", "Prod", "a/b"):
        with pytest.raises(RegistryStateError, match="invalid alias name"):
            registry.set_alias(bad, 1, by="x", why="y")
    with pytest.raises(VersionNotFound, match="staging"):
        registry.get("staging")


def test_alias_expected_version_mismatch_is_a_conflict(registry: ModelRegistry) -> None:
    _register(registry, "r1")
    _register(registry, "r2")
    registry.set_alias("production", 1, by="alice", why="first")
    with pytest.raises(RegistryConflict, match=r"points at v0001, expected v0002; not moved to v0002"):
        registry.set_alias("production", 2, by="bob", why="x", expected=2)
    with pytest.raises(RegistryConflict, match="expected nothing"):
        registry.set_alias("production", 2, by="bob", why="x", expected=None)
    assert registry.set_alias("production", 2, by="bob", why="x", expected="v0001").version == 2


@pytest.mark.parametrize("expected", ["any", 1])
def test_alias_stale_etag_is_retried_or_refused_never_losing_history(
    config: ModelConfig,
    registry: ModelRegistry,
    devstack: DevStack,
    monkeypatch: pytest.MonkeyPatch,
    expected: object,
) -> None:
    for run in ("r1", "r2", "r3"):
        _register(registry, run)
    registry.set_alias("production", 1, by="alice", why="first")
    other = ModelRegistry(config, _store(devstack))
    replace = registry.store.replace_if_match
    calls: list[bool] = []

    def other_moves_first(uri: str, data: bytes, etag: str, **kw: Any) -> bool:
        if not calls:
            other.set_alias("production", 2, by="bob", why="concurrent move")
        calls.append(ok := replace(uri, data, etag, **kw))
        return ok

    monkeypatch.setattr(registry.store, "replace_if_match", other_moves_first)
    if expected == "any":
        moved = registry.set_alias("production", 3, by="carol", why="mine")
        assert calls == [False, True] and moved.version == 3
        assert [(h["version"], h["previous"]) for h in moved.history] == [(1, None), (2, 1), (3, 2)]
    else:
        with pytest.raises(RegistryConflict, match="points at v0002, expected v0001"):
            registry.set_alias("production", 3, by="carol", why="mine", expected=expected)
        assert calls == [False]
        assert [h["version"] for h in registry.alias_history("production")] == [1, 2]


def test_alias_created_concurrently_is_retried(
    config: ModelConfig, registry: ModelRegistry, devstack: DevStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    _register(registry, "r1")
    _register(registry, "r2")
    other = ModelRegistry(config, _store(devstack))
    create = registry.store.create_exclusive

    def other_creates_first(uri: str, data: bytes, **kw: Any) -> bool:
        if uri.endswith("aliases/staging.json") and registry.alias("staging") is None:
            other.set_alias("staging", 1, by="bob", why="first")
        return create(uri, data, **kw)

    monkeypatch.setattr(registry.store, "create_exclusive", other_creates_first)
    alias = registry.set_alias("staging", 2, by="alice", why="second")
    assert [(h["version"], h["by"]) for h in alias.history] == [(1, "bob"), (2, "alice")]


# -- model objects (skops through include.modelcare.ml.serialization) --------------------------------------


def test_load_model_round_trips_a_fitted_pipeline(registry: ModelRegistry) -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from include.modelcare.ml.serialization import dump_model

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = (x[:, 0] > 0).astype(int)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)
    _register(registry, "dag/fit", model_bytes=dump_model(model))
    loaded = registry.load_model("latest")
    assert (loaded.predict(x) == model.predict(x)).all()


# -- CLI ---------------------------------------------------------------------------------------------------


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = registry_main(["registry", *argv])
    except SystemExit as exc:  # argparse refusing the arguments
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_list_show_approve_set_alias_history(
    config: ModelConfig, registry: ModelRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "customer_churn.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    cfg = ("--config", str(path))
    _register(registry, "r1")
    _register(
        registry,
        "r2",
        status=PENDING,
        metadata={"dag_id": "d", "run_id": "r2", "metrics": {"candidate": {"roc_auc": 0.9}}},
    )

    code, out, _ = _cli(capsys, "set-alias", "production", "1", *cfg, "--by", "alice", "--why", "first")
    assert code == 0 and "production -> v0001 (was unset; by alice: first)" in out
    code, out, _ = _cli(capsys, "list", *cfg)
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == [
        "VERSION",
        "STATUS",
        "ROC_AUC",
        "CHAMPION",
        "CREATED_AT",
        "CREATED_BY",
        "ALIASES",
    ]
    assert lines[1].split()[:4] == ["v0001", "Approved", "0.8100", "0.7900"] and lines[1].split()[-2:] == [
        "modelcare_retrain_customer_churn/r1",
        "production",
    ]
    assert lines[2].split()[:4] == ["v0002", "PendingManualApproval", "0.9000", "-"] and lines[2].split()[-2:] == [
        "d/r2",
        "-",
    ]
    code, out, _ = _cli(capsys, "list", *cfg, "--json")
    rows = json.loads(out)
    assert [(r["version"], r["status"], r["candidate"], r["aliases"]) for r in rows] == [
        (1, APPROVED, 0.81, ["production"]),
        (2, PENDING, 0.9, []),
    ]

    code, out, _ = _cli(capsys, "approve", "v0002", *cfg, "--by", "bob", "--why", "reviewed")
    assert code == 0 and out.strip() == "customer_churn v0002: Approved (by bob: reviewed)"
    code, out, _ = _cli(
        capsys, "set-alias", "production", "latest", *cfg, "--why", "promote", "--expected", "1", "--json"
    )
    assert code == 0 and json.loads(out)["version"] == 2
    code, _, err = _cli(capsys, "set-alias", "production", "1", *cfg, "--why", "rollback", "--expected", "v0001")
    assert code == 2 and err.startswith("modelcare: error: customer_churn: alias 'production' points at v0002")

    code, out, _ = _cli(capsys, "show", "production", *cfg, "--json")
    shown = json.loads(out)
    assert code == 0 and shown["version_id"] == "v0002" and shown["aliases"] == ["production"]
    code, out, _ = _cli(capsys, "show", "2", *cfg)
    assert code == 0 and out.startswith("customer_churn v0002  Approved") and "bob: reviewed" in out

    code, out, _ = _cli(capsys, "history", "production", *cfg, "--json")
    assert [(h["version"], h["previous"]) for h in json.loads(out)] == [(1, None), (2, 1)]
    code, out, _ = _cli(capsys, "history", "production", *cfg)
    assert code == 0 and len(out.splitlines()) == 3 and "promote" in out.splitlines()[2]

    code, _, err = _cli(capsys, "reject", "v0009", *cfg, "--why", "x")
    assert code == 2 and "no visible registry version 'v0009'" in err and len(err.splitlines()) == 1
    code, _, err = _cli(capsys, "approve", "1", *cfg)
    assert code == 2  # argparse: --why is required
    _cli(capsys, "reject", "1", *cfg, "--why", "revoke")
    code, _, err = _cli(capsys, "approve", "1", *cfg, "--why", "again")
    assert code == 2 and "Rejected -> Approved is not allowed" in err


# -- SageMaker mirror ---------------------------------------------------------------------------------------


class _FlakySageMaker:
    """Delegates to a real client but fails the first ``create_model_package``."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.failures = 1

    def __getattr__(self, name: str) -> Callable[..., Any]:
        return getattr(self._client, name)

    def create_model_package(self, **kw: Any) -> Any:
        import botocore.exceptions

        if self.failures:
            self.failures -= 1
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "CreateModelPackage"
            )
        return self._client.create_model_package(**kw)


def test_sagemaker_mirror(fresh_bucket: str, s3_store: ObjectStore, devstack: DevStack) -> None:
    group = f"modelcare-{uuid.uuid4().hex[:10]}"
    config = _config(fresh_bucket, group)
    sagemaker = devstack.client("sagemaker")
    registry = ModelRegistry(config, s3_store, sagemaker)

    pending = _register(registry, "dag/run-1", status=PENDING, extra_artifacts={"metrics.json": b"{}"})
    arn = pending.model_package_arn
    assert arn is not None and pending.metadata["sagemaker"]["model_package_group"] == group
    package = sagemaker.describe_model_package(ModelPackageName=arn)
    assert package["ModelApprovalStatus"] == PENDING
    assert package["ModelPackageDescription"] == f"modelcare customer_churn v0001: {pending.uri}metadata.json"
    assert package["CustomerMetadataProperties"]["modelcare:metadata_uri"] == f"{pending.uri}metadata.json"
    assert package["CustomerMetadataProperties"]["modelcare:run_key"] == "dag/run-1"
    assert package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"] == f"{pending.uri}metrics.json"

    registry.approve(1, by="alice", why="ok")
    package = sagemaker.describe_model_package(ModelPackageName=arn)
    assert package["ModelApprovalStatus"] == APPROVED and package["ApprovalDescription"] == "alice: ok"
    assert package["CustomerMetadataProperties"]["modelcare:version"] == "v0001"  # kept across updates
    assert _register(registry, "dag/run-1").model_package_arn == arn  # idempotent: no second package

    flaky = ModelRegistry(config, s3_store, _FlakySageMaker(sagemaker))
    with pytest.raises(RegistryMirrorError, match=r"ThrottlingException.*v0002 is committed in S3"):
        _register(flaky, "dag/run-2", status=REJECTED)
    assert registry.get(2).model_package_arn is None  # committed, not yet mirrored
    healed = _register(flaky, "dag/run-2", status=REJECTED)  # the retry finishes the mirror
    assert healed.version == 2 and healed.model_package_arn is not None
    summaries = sagemaker.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
    assert sorted((s["ModelPackageArn"], s["ModelApprovalStatus"]) for s in summaries) == sorted(
        [(arn, APPROVED), (healed.model_package_arn, REJECTED)]
    )
