"""kill -9 mid-register, then re-run: one version, complete, sha256-verified.

A child process registers through the proxy; a hold parks it on a chosen S3 write, the test SIGKILLs
it there, then either drops the parked write (the crash came before it reached S3) or lets it through
(S3 applied it, the dead client never saw the reply). The kill points are derived from the writes a
registration makes (recorded first): every write dropped, and every conditional write (the claim, the
commit) applied, so a write added to the protocol later becomes a kill point too. Then the same run
registers again in-process and must resume into the same number.

Run as ``python -m tests.faults.test_kill_register --child BUCKET RUN_KEY`` it is the child.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from include.modelcare.registry.store import ModelRegistry
from tests.faults.proxy import FaultProxy, Hold, Rule
from tests.faults.test_registry_faults import (
    WriteSpot,
    assert_registry_sound,
    direct_registry,
    model_bytes_of,
    new_bucket,
    register,
    registry_config,
    spots_of,
)

if TYPE_CHECKING:
    from include.modelcare.dev.devstack import DevStack
    from include.modelcare.storage.objects import ObjectStore

pytestmark = pytest.mark.faults

REPO = Path(__file__).resolve().parents[2]
RUN_KEY = "modelcare_retrain_customer_churn/scheduled__2026-12-01"


@dataclass(frozen=True)
class KillPoint:
    spot: WriteSpot
    applied: bool  # the parked write reaches S3 after the kill (its reply is lost with the process)

    @property
    def label(self) -> str:
        return f"{'after' if self.applied else 'before'} {self.spot.label}"


def kill_points(proxy: FaultProxy, store: ObjectStore, devstack: DevStack) -> list[KillPoint]:
    proxy.reset()
    register(ModelRegistry(registry_config(new_bucket(devstack)), store), RUN_KEY)
    spots = spots_of(proxy.writes())
    proxy.reset()
    points = [KillPoint(spot, applied=False) for spot in spots]
    points += [KillPoint(spot, applied=True) for spot in spots if spot.conditional]
    return points


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _parked_or_ended(hold: Hold, child: subprocess.Popen[bytes]) -> bool:
    return hold.arrived.is_set() or child.poll() is not None


def _settled(proxy: FaultProxy, spot: WriteSpot) -> bool:
    """The parked request was forwarded or failed after the kill (it is recorded once it has)."""
    return any(spot.matches(r.request) for r in proxy.records)


def test_kill_9_mid_register_then_rerun_resumes_into_one_complete_version(
    proxy: FaultProxy, proxied_store: ObjectStore, devstack: DevStack
) -> None:
    points = kill_points(proxy, proxied_store, devstack)
    assert len(points) >= 8, [p.label for p in points]  # 6 writes dropped + claim and commit applied
    outcomes: list[str] = []
    for point in points:
        proxy.reset()  # records match bucket-independently: drop the previous kill point's
        config = registry_config(new_bucket(devstack))
        hold = proxy.hold(point.spot.matches)
        if not point.applied:  # the parked request is failed before forwarding once released: it never lands
            proxy.add(Rule(point.spot.matches, when="before", fault="reset", nth=point.spot.nth))
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.test_kill_register", "--child", config.data.bucket, RUN_KEY],
            cwd=REPO,
            env=os.environ.copy(),  # AWS_ENDPOINT_URL points at the proxy (the ``proxy`` fixture)
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            _wait_for(partial(_parked_or_ended, hold, child), f"the child at {point.label}")
            assert hold.arrived.is_set(), f"the child ended before {point.label}: {child.communicate()}"
            os.kill(child.pid, signal.SIGKILL)
            assert child.wait(30) == -signal.SIGKILL
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        hold.release()
        _wait_for(partial(_settled, proxy, point.spot), f"{point.label} to settle")
        observer = direct_registry(config, devstack)
        committed_before = [r.version for r in observer.versions()]
        commit_applied = point.applied and point.spot.key.endswith("metadata.json")
        settled = [(r.status, r.fault) for r in proxy.records if point.spot.matches(r.request)]
        assert committed_before == ([1] if commit_applied else []), f"{point.label}: visible after kill {settled}"
        proxy.reset()
        record = register(ModelRegistry(config, proxied_store), RUN_KEY)
        assert record.version == 1, f"{point.label}: the re-run made {record.version_id}"
        assert_registry_sound(observer, {RUN_KEY: model_bytes_of(RUN_KEY)})
        assert register(ModelRegistry(config, proxied_store), "other/run").version == 2
        outcomes.append(f"kill -9 {point.label} | re-run resumed v0001, complete, sha256 ok")
    print("\n" + "\n".join(outcomes))


def _child(bucket: str, run_key: str) -> None:
    import boto3

    from include.modelcare.storage.objects import ObjectStore

    store = ObjectStore(boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1"))
    record = register(ModelRegistry(registry_config(bucket), store), run_key)
    print(record.version_id)


if __name__ == "__main__" and sys.argv[1:2] == ["--child"]:
    _child(sys.argv[2], sys.argv[3])
