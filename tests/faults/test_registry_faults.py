"""The registry under lost replies: register, set_status and set_alias with a fault at each S3 write.

Every write a call makes is first recorded through the proxy, then each one is failed in turn, before
(the emulator never sees it) and after (applied, reply lost) forwarding, with a 503 and a reset. So a
write added to the protocol later joins the sweep without touching this file. After each fault the
registry invariants hold (``assert_registry_sound``) and a second call is a no-op.

Then the layer above the storage: when botocore's retries are exhausted (the call raises although the
write applied), the caller's next attempt (Airflow's retry) must recognise the applied write: register
resumes into the same version, set_status of the current status is a no-op, and set_alias with the
same target, actor and reason as the alias's last move is already done.

The helpers here (``registry_config``, ``register``, ``assert_registry_sound``, ``record_writes``...) are
shared by the kill -9 and interleaving scenarios of the registry.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from include.modelcare.errors import RegistryConflict
from include.modelcare.registry.records import CLAIM, METADATA, run_marker, sha256
from include.modelcare.registry.store import ModelRegistry
from include.modelcare.storage.objects import ObjectStore
from tests.faults.invariants import check, no_half_written_version
from tests.faults.proxy import Fault, FaultProxy, Request, Rule, When

if TYPE_CHECKING:
    import pandas as pd

    from include.modelcare.config.schema import ModelConfig
    from include.modelcare.dev.devstack import DevStack
    from include.modelcare.registry.records import VersionRecord

pytestmark = [pytest.mark.faults, pytest.mark.usefixtures("fast_retries")]

APPROVED, PENDING, REJECTED = "Approved", "PendingManualApproval", "Rejected"
FAULTS: tuple[tuple[When, Fault], ...] = (("before", "503"), ("before", "reset"), ("after", "503"), ("after", "reset"))
MATRIX: list[str] = []  # "scenario | write | fault | outcome" lines, printed at the end of each sweep


# -- shared helpers ---------------------------------------------------------------------------------------
def registry_config(bucket: str) -> ModelConfig:
    from include.modelcare.config.catalog import get_model_config

    base = get_model_config("customer_churn")
    return base.model_copy(
        update={
            "data": base.data.model_copy(update={"bucket": bucket}),
            "registry": base.registry.model_copy(update={"sagemaker_model_package_group": None}),
        }
    )


def new_bucket(devstack: DevStack) -> str:
    name = f"faults-reg-{uuid.uuid4().hex[:12]}"
    devstack.client("s3").create_bucket(Bucket=name)
    return name


def model_bytes_of(run_key: str, variant: str = "") -> bytes:
    """Deterministic 'model' bytes of a run (a retry of the same run produces the same bytes)."""
    return f"model of {run_key}{variant}|".encode() * 64


def reference_frame() -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({"tenure_months": range(40), "contract": ["one_year", "two_year"] * 20})


def register(registry: ModelRegistry, run_key: str, *, status: str = APPROVED, variant: str = "") -> VersionRecord:
    """Register a version the way the retraining task does: model, reference, one extra artifact."""
    return registry.register(
        model_bytes=model_bytes_of(run_key, variant),
        reference=reference_frame(),
        metadata={"dag_id": "modelcare_retrain_customer_churn", "run_id": run_key, "metrics": {"candidate": {}}},
        status=status,
        reasons=["gate passed"],
        run_key=run_key,
        actor="faults",
        extra_artifacts={"metrics.json": f'{{"run": "{run_key}"}}'.encode()},
    )


def direct_registry(config: ModelConfig, devstack: DevStack) -> ModelRegistry:
    """A registry straight on the emulator (no proxy): the observer, or another writer."""
    return ModelRegistry(config, ObjectStore(devstack.client("s3")))


def assert_registry_sound(
    registry: ModelRegistry, expected_runs: dict[str, bytes], *, complete: bool = True
) -> list[VersionRecord]:
    """The registry invariants: one visible version per run, complete, sha256-verified, claims consistent.

    ``registry`` should read the emulator directly (``direct_registry``), never through the proxy.

    ``expected_runs``: run key -> the model bytes its version must hold. Every visible version's artifacts
    all live in its own folder and match their recorded sha256; its claim names its run; no run has two
    versions; no claimed number is left behind by a run that has a visible version (a lost claim reply
    must not make a run claim twice); with ``complete`` (no run still in flight) no folder is uncommitted.
    """
    versions = registry.versions()
    by_run: dict[str, list[int]] = {}
    for record in versions:
        assert record.run_key is not None
        by_run.setdefault(record.run_key, []).append(record.version)
        for name, entry in record.artifacts.items():
            assert entry["uri"] == f"{record.uri}{name}", f"{record.version_id}: {name} outside its folder"
            data = registry.store.read_bytes(entry["uri"])
            assert sha256(data) == entry["sha256"], f"{record.version_id}: {name} fails its sha256"
        claim = registry.store.read_json(f"{record.uri}{CLAIM}")
        assert claim["run_key"] == record.run_key, f"{record.version_id}: claimed by {claim['run_key']}"
    assert {k: len(v) for k, v in by_run.items()} == dict.fromkeys(expected_runs, 1), f"versions by run: {by_run}"
    for record in versions:
        assert registry.load_model_bytes(record) == expected_runs[str(record.run_key)]
    folders = registry._listing()
    for number, names in folders.items():
        if METADATA in names:
            continue
        markers = {n for n in names if n.startswith("_run-")}
        mine = {run_marker(k) for k in expected_runs}
        claim = registry.store.read_json(registry.object_uri(number, CLAIM)) if CLAIM in names else {}
        assert not (markers & mine) and claim.get("run_key") not in expected_runs, (
            f"v{number:04d} is an uncommitted claim of a run that has a visible version: {sorted(names)}"
        )
    if complete:  # every run finished: no folder may be left uncommitted (the shared invariant)
        assert not check(no_half_written_version(registry.config, registry.store))
    return versions


@dataclass(frozen=True)
class WriteSpot:
    """One recorded S3 write, identified bucket-independently: method, key below the bucket, occurrence."""

    method: str
    key: str
    nth: int
    conditional: bool = False  # If-None-Match / If-Match: the storage layer recognises its own write by token

    @property
    def label(self) -> str:
        return f"{self.method} {self.key.rsplit('/registry/', 1)[-1]}#{self.nth}"

    def matches(self, request: Request) -> bool:
        return request.method == self.method and request.key.split("/", 1)[-1] == self.key


def spots_of(writes: list[Request]) -> list[WriteSpot]:
    seen: dict[tuple[str, str], int] = {}
    spots = []
    for w in writes:
        key = w.key.split("/", 1)[-1]
        seen[(w.method, key)] = seen.get((w.method, key), 0) + 1
        spots.append(WriteSpot(w.method, key, seen[(w.method, key)], w.conditional))
    return spots


def record_writes(proxy: FaultProxy, action: Callable[[], Any]) -> list[WriteSpot]:
    """The S3 writes ``action`` makes through the proxy (recorded, then the records are cleared)."""
    proxy.reset()
    action()
    spots = spots_of(proxy.writes())
    proxy.reset()
    assert spots, "the action made no S3 write through the proxy"
    return spots


def assert_recognised_by_token(proxy: FaultProxy, spot: WriteSpot, when: When) -> None:
    """End to end: a lost reply of a conditional write was retried, met 412, and was read back (HEAD)."""
    if when != "after" or not spot.conditional:
        return
    seen = [(r.request.method, r.status) for r in proxy.records if r.request.key.split("/", 1)[-1] == spot.key]
    assert (spot.method, 412) in seen and ("HEAD", 200) in seen, f"{spot.label}: not recognised by token: {seen}"


def fault_rule(spot: WriteSpot, when: When, fault: Fault, times: int = 1) -> Rule:
    return Rule(spot.matches, when=when, fault=fault, nth=spot.nth, times=times)


def note(scenario: str, spot: WriteSpot, fault: str, outcome: str) -> None:
    MATRIX.append(f"{scenario} | {spot.label} | {fault} | {outcome}")


def retries_exhausted() -> Any:
    """``pytest.raises`` for botocore's error after its last retry of a 503 SlowDown."""
    from botocore.exceptions import ClientError

    return pytest.raises(ClientError, match="SlowDown")


def run_in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = fn()
        except BaseException as exc:  # handed to the test thread
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, result


@pytest.fixture(scope="module", autouse=True)
def _print_matrix() -> Iterator[None]:
    yield
    if MATRIX:
        print("\n" + "\n".join(MATRIX))  # shown with -s / -rA: the scenario x outcome matrix
        MATRIX.clear()


# -- 1. register under single faults --------------------------------------------------------------------
def test_register_survives_a_fault_at_each_write(
    proxy: FaultProxy, proxied_store: ObjectStore, devstack: DevStack
) -> None:
    spots = record_writes(
        proxy, lambda: register(ModelRegistry(registry_config(new_bucket(devstack)), proxied_store), "dag/r1")
    )
    for spot in spots:
        for when, fault in FAULTS:
            config = registry_config(new_bucket(devstack))
            registry = ModelRegistry(config, proxied_store)
            rule = proxy.add(fault_rule(spot, when, fault))
            first = register(registry, "dag/r1")
            assert len(rule.fired) == 1, f"{spot.label} {when} {fault}: the fault did not fire"
            assert_recognised_by_token(proxy, spot, when)
            proxy.reset()
            again = register(registry, "dag/r1")
            assert (first.version, again.version) == (1, 1), f"{spot.label} {when} {fault}"
            assert again.metadata == first.metadata
            assert_registry_sound(direct_registry(config, devstack), {"dag/r1": model_bytes_of("dag/r1")})
            assert register(registry, "dag/r2").version == 2, "the next run must claim the next number"
            note("register", spot, f"{fault} {when}", "ok: v0001 once, re-run same version")
    assert len(spots) >= 6, [s.label for s in spots]  # claim, marker, 3 artifacts, metadata


# -- set_status -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [APPROVED, REJECTED])
def test_set_status_survives_a_fault_at_each_write(
    proxy: FaultProxy, proxied_store: ObjectStore, devstack: DevStack, status: str
) -> None:
    def fresh() -> ModelRegistry:
        registry = direct_registry(registry_config(new_bucket(devstack)), devstack)
        register(registry, "dag/r1", status=PENDING)
        return ModelRegistry(registry.config, proxied_store)

    sample = fresh()
    spots = record_writes(proxy, lambda: sample.set_status(1, status, by="alice", why="reviewed"))
    for spot in spots:
        for when, fault in FAULTS:
            registry = fresh()
            proxy.add(fault_rule(spot, when, fault))
            assert registry.set_status(1, status, by="alice", why="reviewed").status == status
            assert_recognised_by_token(proxy, spot, when)
            proxy.reset()
            assert registry.set_status(1, status, by="alice", why="reviewed").status == status
            history = registry.get(1).metadata["status_history"]
            assert [h["status"] for h in history] == [PENDING, status], f"{spot.label} {when} {fault}: {history}"
            assert_registry_sound(direct_registry(registry.config, devstack), {"dag/r1": model_bytes_of("dag/r1")})
            note(f"set_status {status}", spot, f"{fault} {when}", "ok: success, one history entry")


# -- set_alias --------------------------------------------------------------------------------------------
def _two_approved(devstack: DevStack) -> ModelConfig:
    config = registry_config(new_bucket(devstack))
    registry = direct_registry(config, devstack)
    register(registry, "dag/r1")
    register(registry, "dag/r2")
    return config


@pytest.mark.parametrize("move", ["create", "replace"])
def test_set_alias_survives_a_fault_at_each_write(
    proxy: FaultProxy, proxied_store: ObjectStore, devstack: DevStack, move: str
) -> None:
    """``create``: the alias's first move (If-None-Match); ``replace``: v1 -> v2 (If-Match)."""
    previous, target = (None, 1) if move == "create" else (1, 2)

    def fresh() -> ModelRegistry:
        config = _two_approved(devstack)
        if previous is not None:
            direct_registry(config, devstack).set_alias("production", previous, by="alice", why="first")
        return ModelRegistry(config, proxied_store)

    def do(registry: ModelRegistry) -> Any:
        return registry.set_alias("production", target, by="bob", why="deploy", expected=previous)

    sample = fresh()
    spots = record_writes(proxy, lambda: do(sample))
    for spot in spots:
        for when, fault in FAULTS:
            registry = fresh()
            rule = proxy.add(fault_rule(spot, when, fault))
            assert do(registry).version == target, f"{spot.label} {when} {fault}"
            assert len(rule.fired) == 1
            assert_recognised_by_token(proxy, spot, when)
            proxy.reset()
            assert do(registry).version == target, "the same move again must be recognised as done"
            history = registry.alias_history("production")
            assert [(h["version"], h["previous"]) for h in history][-1] == (target, previous)
            assert len(history) == (1 if previous is None else 2), f"{spot.label} {when} {fault}: {history}"
            note(f"set_alias {move}", spot, f"{fault} {when}", "ok: success, one history entry")


def test_set_alias_genuinely_lost_race_still_conflicts(
    proxy: FaultProxy, proxied_store: ObjectStore, devstack: DevStack
) -> None:
    """A's alias write is parked in the proxy until B has moved the alias; then A must lose."""
    config = _two_approved(devstack)
    register(direct_registry(config, devstack), "dag/r3")
    direct_registry(config, devstack).set_alias("production", 1, by="alice", why="first")
    a = ModelRegistry(config, proxied_store)
    hold = proxy.hold(lambda r: r.method == "PUT" and r.key.endswith("aliases/production.json"))
    thread, result = run_in_thread(lambda: a.set_alias("production", 2, by="a", why="A deploys", expected=1))
    assert hold.arrived.wait(30), "A's alias write never reached the proxy"
    direct_registry(config, devstack).set_alias("production", 3, by="b", why="B deploys", expected=1)
    hold.release()
    thread.join(30)
    assert isinstance(result.get("error"), RegistryConflict), result
    assert [(h["version"], h["by"]) for h in a.alias_history("production")] == [(1, "alice"), (3, "b")]
    statuses = [r.status for r in proxy.records if r.request.method == "PUT"]
    assert statuses == [412], f"A's parked write must have met B's move: {statuses}"
    MATRIX.append("set_alias race | A parked until B moved | hold | ok: A RegistryConflict, B's move kept")


# -- 2. idempotency above the storage layer: retries exhausted, then the caller's next attempt ---------
EXHAUSTED: tuple[tuple[When, Fault], ...] = (("after", "503"), ("before", "503"))


def test_register_after_exhausted_retries_resumes_into_the_same_version(
    proxy: FaultProxy, proxied_store: ObjectStore, devstack: DevStack
) -> None:
    spots = record_writes(
        proxy, lambda: register(ModelRegistry(registry_config(new_bucket(devstack)), proxied_store), "dag/r1")
    )
    for spot in spots:
        for when, fault in EXHAUSTED:
            config = registry_config(new_bucket(devstack))
            registry = ModelRegistry(config, proxied_store)
            proxy.add(fault_rule(spot, when, fault, times=10))
            with retries_exhausted():
                register(registry, "dag/r1")
            proxy.reset()
            assert register(registry, "dag/r1").version == 1, f"{spot.label} {when}"
            assert_registry_sound(direct_registry(config, devstack), {"dag/r1": model_bytes_of("dag/r1")})
            assert register(registry, "dag/r2").version == 2
            note("register, retries exhausted", spot, f"{fault} {when} x10", "ok: raised, next attempt same v0001")


def test_set_status_after_exhausted_retries_is_a_no_op(
    proxy: FaultProxy, proxied_store: ObjectStore, devstack: DevStack
) -> None:
    registry = direct_registry(registry_config(new_bucket(devstack)), devstack)
    register(registry, "dag/r1", status=PENDING)
    registry = ModelRegistry(registry.config, proxied_store)
    proxy.add(Rule(lambda r: r.method == "PUT" and r.key.endswith(METADATA), when="after", times=10))
    with retries_exhausted():
        registry.approve(1, by="alice", why="reviewed")
    proxy.reset()
    assert registry.approve(1, by="alice", why="reviewed").status == APPROVED
    assert [h["status"] for h in registry.get(1).metadata["status_history"]] == [PENDING, APPROVED]
    MATRIX.append("set_status, retries exhausted | PUT metadata.json | 503 after x10 | ok: next attempt no-op")


@pytest.mark.parametrize("move", ["create", "replace"])
def test_set_alias_after_exhausted_retries_recognises_its_own_move(
    proxy: FaultProxy, proxied_store: ObjectStore, devstack: DevStack, move: str
) -> None:
    """The alias moved but the call raised; the retry (same target, by, why, expected) is already done."""
    previous, target = (None, 1) if move == "create" else (1, 2)
    config = _two_approved(devstack)
    if previous is not None:
        direct_registry(config, devstack).set_alias("production", previous, by="alice", why="first")
    registry = ModelRegistry(config, proxied_store)
    proxy.add(Rule(lambda r: r.method == "PUT" and r.key.endswith("aliases/production.json"), times=10))
    with retries_exhausted():
        registry.set_alias("production", target, by="bob", why="deploy v2", expected=previous)
    proxy.reset()
    assert registry.alias("production").version == target, "the write applied although the call raised"  # type: ignore[union-attr]
    moved = registry.set_alias("production", target, by="bob", why="deploy v2", expected=previous)
    assert moved.version == target
    assert [(h["version"], h["by"]) for h in registry.alias_history("production")][-1] == (target, "bob")
    assert len(registry.alias_history("production")) == (1 if previous is None else 2)
    # Someone else's move with the same expectation has genuinely lost: the alias is not where they expected.
    with pytest.raises(RegistryConflict):
        registry.set_alias("production", target, by="carol", why="other deploy", expected=previous)
    MATRIX.append(f"set_alias {move}, retries exhausted | PUT aliases/production.json | 503 after x10 | ok")
