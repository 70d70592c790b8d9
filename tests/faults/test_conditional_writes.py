"""Conditional writes under lost replies and deterministic races, through the fault proxy.

"Applied, but the reply was lost": S3 (here the emulator) applies the PUT, the client sees a 503 or a
reset, botocore retries and gets 412 for the write that succeeded. ``ObjectStore`` must recognise its
own write (by its write token) and report success; a genuinely lost race must still report failure.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from include.modelcare.storage.objects import ObjectStore
from tests.faults.proxy import Fault, FaultProxy, Request, Rule

if TYPE_CHECKING:
    from include.modelcare.dev.devstack import DevStack

pytestmark = pytest.mark.faults


def _put_of(key: str) -> Callable[[Request], bool]:
    return lambda r: r.method == "PUT" and r.key.endswith(key)


@pytest.fixture
def bucket(devstack: DevStack) -> str:
    name = f"faults-{uuid.uuid4().hex[:12]}"
    devstack.client("s3").create_bucket(Bucket=name)
    return name


@pytest.mark.parametrize("fault", ["503", "500", "reset"])
def test_create_exclusive_recognises_its_own_write_when_the_reply_is_lost(
    proxy: FaultProxy, proxied_store: ObjectStore, bucket: str, fault: Fault
) -> None:
    uri = f"s3://{bucket}/claims/a.json"
    rule = proxy.add(Rule(_put_of("claims/a.json"), when="after", fault=fault))
    assert proxied_store.create_exclusive(uri, b'{"by": "me"}') is True
    assert len(rule.fired) == 1, "the fault did not fire"
    statuses = [r.status for r in proxy.records if r.request.method == "PUT"]
    assert 412 in statuses, f"the retry should have met the applied write (412); saw {statuses}"
    assert proxied_store.read_bytes(uri) == b'{"by": "me"}'
    assert proxied_store.create_exclusive(uri, b'{"by": "someone else"}') is False


@pytest.mark.parametrize("fault", ["503", "reset"])
def test_replace_if_match_recognises_its_own_write_when_the_reply_is_lost(
    proxy: FaultProxy, proxied_store: ObjectStore, bucket: str, fault: Fault
) -> None:
    uri = f"s3://{bucket}/aliases/production.json"
    assert proxied_store.create_exclusive(uri, b"v1")
    _, etag = proxied_store.read_with_etag(uri)
    proxy.add(Rule(_put_of("aliases/production.json"), when="after", fault=fault))
    assert proxied_store.replace_if_match(uri, b"v2", etag) is True
    assert proxied_store.read_bytes(uri) == b"v2"
    assert proxied_store.replace_if_match(uri, b"v3", etag) is False, "a stale ETag must still lose"


def test_a_fault_before_the_write_is_retried_and_applies_once(
    proxy: FaultProxy, proxied_store: ObjectStore, bucket: str
) -> None:
    uri = f"s3://{bucket}/markers/once.json"
    proxy.add(Rule(_put_of("markers/once.json"), when="before", fault="503", times=2))
    assert proxied_store.create_exclusive(uri, b"x") is True
    puts = [r for r in proxy.records if r.request.method == "PUT"]
    assert [r.fault for r in puts] == ["503 before", "503 before", None]


def test_a_race_lost_to_another_writer_is_still_reported_as_lost(
    proxy: FaultProxy, proxied_store: ObjectStore, devstack: DevStack, bucket: str
) -> None:
    """A's create is parked in the proxy until B's create has been applied; then A must see False."""
    uri = f"s3://{bucket}/claims/race.json"
    hold = proxy.hold(_put_of("claims/race.json"))
    result: dict[str, bool] = {}
    a = threading.Thread(target=lambda: result.setdefault("a", proxied_store.create_exclusive(uri, b"A")))
    a.start()
    assert hold.arrived.wait(30), "A's request never reached the proxy"
    b_store = ObjectStore(devstack.client("s3"))  # B goes straight to the emulator
    assert b_store.create_exclusive(uri, b"B") is True
    hold.release()
    a.join(30)
    assert result == {"a": False}
    assert b_store.read_bytes(uri) == b"B"


def test_the_proxy_records_every_s3_write(proxy: FaultProxy, proxied_store: ObjectStore, bucket: str) -> None:
    proxied_store.write_bytes(f"s3://{bucket}/a", b"1")
    proxied_store.create_exclusive(f"s3://{bucket}/b", b"2")
    proxied_store.delete(f"s3://{bucket}/a")
    writes: list[Request] = proxy.writes()
    assert [(w.method, w.key.split("/", 1)[1], w.conditional) for w in writes] == [
        ("PUT", "a", False),
        ("PUT", "b", True),
        ("DELETE", "a", False),
    ]
