"""Two retraining runs of one model registering at the same time, interleaved through the proxy.

The emulator serialises nothing (its conditional writes are check-then-write), so the interleavings
are made deterministic: writer A's request is parked in the proxy (a hold) at a chosen step, writer B
runs (or steps) meanwhile, then A is released. Different runs must end as distinct visible versions
with no artifact mixed between them; twin attempts of the SAME run (Airflow running a task twice, a
zombie beside its retry) must end as one version.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from include.modelcare.errors import RegistryConflict
from include.modelcare.registry.records import CLAIM, METADATA, run_marker
from include.modelcare.registry.store import ModelRegistry
from tests.faults.proxy import FaultProxy, Request
from tests.faults.test_registry_faults import (
    assert_registry_sound,
    direct_registry,
    model_bytes_of,
    new_bucket,
    register,
    registry_config,
    run_in_thread,
)

if TYPE_CHECKING:
    from include.modelcare.config.schema import ModelConfig
    from include.modelcare.dev.devstack import DevStack
    from include.modelcare.storage.objects import ObjectStore

pytestmark = [pytest.mark.faults, pytest.mark.usefixtures("fast_retries")]

A, B = "modelcare_retrain_customer_churn/run-a", "modelcare_retrain_customer_churn/run-b"


def _put(name: str, run_key: str) -> Callable[[Request], bool]:
    """A PUT of ``name`` (claim, marker, artifact, metadata) by ``run_key``'s writer.

    Claims and metadata carry the run key in their body; the marker carries it in its name;
    artifacts carry it in their bytes (``model_bytes_of``) or, for the reference, not at all.
    """
    marker = run_marker(run_key)

    def match(request: Request) -> bool:
        if request.method != "PUT" or not request.key.endswith(f"/{name}"):
            return False
        return name == marker or run_key.encode() in request.body

    return match


STEPS = {"claim": CLAIM, "marker": None, "commit": METADATA}  # None: the run's marker


def _step(step: str, run_key: str) -> Callable[[Request], bool]:
    return _put(STEPS[step] or run_marker(run_key), run_key)


def _fresh(devstack: DevStack) -> ModelConfig:
    return registry_config(new_bucket(devstack))


@pytest.mark.parametrize("parked_at", ["claim", "marker", "commit"])
def test_two_runs_interleaved_get_distinct_complete_versions(
    proxy: FaultProxy, store_factory: Callable[[], ObjectStore], devstack: DevStack, parked_at: str
) -> None:
    """A is parked at its claim / after its claim (marker) / before its commit while B registers fully."""
    config = _fresh(devstack)
    hold = proxy.hold(_step(parked_at, A))
    thread, result = run_in_thread(lambda: register(ModelRegistry(config, store_factory()), A))
    assert hold.arrived.wait(30), f"A never reached its {parked_at}"
    b = register(ModelRegistry(config, store_factory()), B)
    hold.release()
    thread.join(30)
    assert "error" not in result, result
    a = result["value"]
    # Parked at its claim, A's claim of v1 had not landed: B took v1 and A, refused (412), moved on to v2.
    assert (a.version, b.version) == ((2, 1) if parked_at == "claim" else (1, 2)), (a.version_id, b.version_id)
    versions = assert_registry_sound(direct_registry(config, devstack), {A: model_bytes_of(A), B: model_bytes_of(B)})
    assert sorted(v.version for v in versions) == [1, 2]
    for record, run in ((a, A), (b, B)):
        metrics = direct_registry(config, devstack).load_artifact(record.version, "metrics.json")
        assert run.encode() in metrics, f"{record.version_id} holds another run's metrics.json"
    print(f"\ninterleaved runs | A parked at {parked_at} | A={a.version_id} B={b.version_id} | ok")


def test_both_runs_listed_before_either_claimed(
    proxy: FaultProxy, store_factory: Callable[[], ObjectStore], devstack: DevStack
) -> None:
    """Both claims parked after both listings saw an empty registry; B's lands first, then A's (412 -> v2)."""
    config = _fresh(devstack)
    hold_a, hold_b = proxy.hold(_step("claim", A)), proxy.hold(_step("claim", B))
    ta, ra = run_in_thread(lambda: register(ModelRegistry(config, store_factory()), A))
    tb, rb = run_in_thread(lambda: register(ModelRegistry(config, store_factory()), B))
    assert hold_a.arrived.wait(30) and hold_b.arrived.wait(30)
    hold_b.release()
    tb.join(30)
    hold_a.release()
    ta.join(30)
    assert "error" not in ra and "error" not in rb, (ra, rb)
    assert (ra["value"].version, rb["value"].version) == (2, 1)
    assert_registry_sound(direct_registry(config, devstack), {A: model_bytes_of(A), B: model_bytes_of(B)})
    print("\ninterleaved runs | both listed, B's claim first | A=v0002 B=v0001 | ok")


@pytest.mark.parametrize("parked_at", ["claim", "marker", "commit"])
def test_twin_attempts_of_one_run_make_one_version(
    proxy: FaultProxy, store_factory: Callable[[], ObjectStore], devstack: DevStack, parked_at: str
) -> None:
    """Attempt 1 is parked at a step while attempt 2 of the same run registers fully; then 1 goes on."""
    config = _fresh(devstack)
    hold = proxy.hold(_step(parked_at, A))
    thread, result = run_in_thread(lambda: register(ModelRegistry(config, store_factory()), A))
    assert hold.arrived.wait(30), f"attempt 1 never reached its {parked_at}"
    second = register(ModelRegistry(config, store_factory()), A)
    hold.release()
    thread.join(30)
    assert "error" not in result, result
    assert result["value"].version == second.version == 1
    assert_registry_sound(direct_registry(config, devstack), {A: model_bytes_of(A)})
    print(f"\ntwin attempts | attempt 1 parked at {parked_at} | one version v0001 | ok")


@pytest.mark.parametrize("parked_at", ["claim", "marker", "commit"])
def test_twin_attempt_with_other_bytes_never_corrupts_the_committed_version(
    proxy: FaultProxy, store_factory: Callable[[], ObjectStore], devstack: DevStack, parked_at: str
) -> None:
    """A twin that retrained (different bytes) and comes second must not overwrite the committed version."""
    config = _fresh(devstack)
    hold = proxy.hold(_step(parked_at, A))
    thread, result = run_in_thread(lambda: register(ModelRegistry(config, store_factory()), A, variant="retrained"))
    assert hold.arrived.wait(30), f"attempt 1 never reached its {parked_at}"
    second = register(ModelRegistry(config, store_factory()), A)
    hold.release()
    thread.join(30)
    assert isinstance(result.get("error"), RegistryConflict), result
    assert second.version == 1
    assert_registry_sound(direct_registry(config, devstack), {A: model_bytes_of(A)})
    print(f"\ntwin attempts, other bytes | attempt 1 parked at {parked_at} | v0001 intact, attempt 1 conflict | ok")
