"""The model page's Performance section: realised beside *estimated*, the floor, corrections, and why there is
no estimate; every data-derived string escaped. Records are written to an in-memory store in the S3 format."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from include.modelcare.config.catalog import get_model_config
from include.modelcare.config.schema import ModelConfig
from include.modelcare.registry.reader import RegistryReader
from include.modelcare.ui import app as ui
from include.modelcare.ui.performance import performance_view, series_rows
from tests.unit.registry.memory import MemoryStore, metadata, put_version
from tests.unit.ui.records import CALIBRATION, estimated, put_records, realised

pytestmark = pytest.mark.unit

W1, W2, W3, W4, W5 = (dt.date(2026, 3, 2) + dt.timedelta(weeks=i) for i in range(5))
HOSTILE = "<script>alert(1)</script>' onmouseover='x"


@pytest.fixture
def config() -> ModelConfig:
    return get_model_config("customer_churn")  # roc_auc, floor 0.70, 4-week window


def _store(config: ModelConfig) -> MemoryStore:
    """v1 (before calibration) served W1; v2 (calibrated, production) served W2..W5; W3's labels were corrected;
    W4 and W5 have no labels yet; W5's estimate failed with a hostile note."""
    store = MemoryStore()
    reader = RegistryReader(config, store)  # type: ignore[arg-type]
    put_version(store, reader, 1, metadata(1))
    put_version(store, reader, 2, metadata(2, calibration=CALIBRATION, threshold=0.4, raw_threshold=0.3))
    store.put(
        reader.alias_uri("production"),
        {"alias": "production", "version": 2, "updated_at": "2026-03-08", "updated_by": "test", "history": []},
    )
    corrected = realised(W3, 0.62, 2, revision=2, previous=[{"revision": 1, "value": 0.71, "rows": 900, "version": 2}])
    put_records(
        store,
        config,
        [realised(W1, 0.78, 1), realised(W2, 0.72, 2), corrected],
        [
            estimated(W2, 0.74, 2),
            estimated(W3, 0.73, 2),
            estimated(W4, 0.64, 2),
            estimated(W5, None, 2, note=HOSTILE),
        ],
    )
    return store


def _detail(config: ModelConfig, store: MemoryStore) -> dict[str, Any]:
    return ui.detail(ui.read_model(config, store, RegistryReader))


def test_the_view_pairs_realised_and_estimated_per_batch(config: ModelConfig) -> None:
    view = _detail(config, _store(config))["performance"]
    assert [r["day"] for r in view["rows"]] == [d.isoformat() for d in (W5, W4, W3, W2, W1)]
    by_day = {r["day"]: r for r in view["rows"]}
    w3 = by_day[W3.isoformat()]
    assert w3["realised"]["value"] == 0.62 and w3["realised"]["below"] is True
    assert w3["realised"]["corrected"] and w3["realised"]["previous_values"] == [0.71]
    assert w3["estimated"]["value"] == 0.73 and w3["estimated"]["below"] is False
    assert by_day[W4.isoformat()]["realised"] is None and by_day[W4.isoformat()]["estimated"]["below"] is True
    assert by_day[W1.isoformat()]["estimated"] is None and by_day[W1.isoformat()]["realised"]["version_id"] == "v0001"
    # v1 served W1 and has no calibrator; v2 (production) has one
    assert view["notes"] == ["no estimate for v0001 (registered before calibration; the next registration adds one)"]
    window = view["window"]
    assert window["status"] == "measured" and window["decayed"] and window["version"] == 2
    assert window["window"]["batches"] == [W2.isoformat(), W3.isoformat()]  # v2's labelled weeks, ending at W5
    assert "over 4 weeks 2026-02-17..2026-03-16 (2 labelled batches, 2,000 rows)" in window["reason"]


def test_the_page_shows_estimates_distinctly_and_flags_the_floor(config: ModelConfig) -> None:
    page = ui.model_html(_detail(config, _store(config)))
    section = page[page.index("<h2>Performance</h2>") : page.index("<h2>Versions</h2>")]
    assert "<th>realised roc_auc</th>" in section and "<th>estimated roc_auc</th>" in section
    assert "<td class='below'>0.6200 below floor<br><small>corrected: revision 2 (was 0.7100)</small></td>" in section
    assert "<i>0.7300</i><span class='est-label'>est.</span></td>" in section
    assert (
        "<td class='est below' title='estimated by v0002 (CBPE, 1020 rows; labels expected by 2026-04-13)'>" in section
    )
    assert "<i>0.6400</i><span class='est-label'>est.</span> below floor" in section
    assert "<td>1,000</td><td>98% (20 ids without labels, 5 labels without ids)</td>" in section
    assert "no estimate for v0001 (registered before calibration; the next registration adds one)" in section
    assert "production v2 roc_auc 0.6700 below floor 0.7 over 4 weeks" in section
    # the sparkline: both series (estimated dashed) and the floor line, inline, no script
    assert "aria-label='roc_auc: realised and estimated per batch'" in section
    assert section.count("<polyline") == 2 and "stroke-dasharray='5 4'" in section
    assert "<title>floor 0.7</title>" in section
    # the hostile note is text, never markup or an attribute
    assert "<script>" not in page and "onmouseover='x" not in page
    assert "not estimated: &lt;script&gt;alert(1)&lt;/script&gt;&#x27; onmouseover=&#x27;x" in section


def test_regression_and_no_production_say_so(config: ModelConfig) -> None:
    from tests.unit.configs import make_config

    regression = make_config("Ridge")
    view = performance_view(regression, [], [], [], None)
    assert view["notes"] == ["not estimated for regression"]
    assert view["window"]["status"] == "no batch scored or estimated yet" and view["rows"] == []
    assert "no batch scored or estimated yet" in ui.model_html(_detail(regression, MemoryStore()))
    store = MemoryStore()
    put_records(store, config, [realised(W1, 0.8, 1)])
    view = _detail(config, store)["performance"]
    assert view["window"]["status"] == "no production model yet" and view["notes"] == []


def test_production_without_a_calibrator_says_when_an_estimate_comes(config: ModelConfig) -> None:
    store = MemoryStore()
    reader = RegistryReader(config, store)  # type: ignore[arg-type]
    put_version(store, reader, 1, metadata(1, calibration={"x": "not a list"}))  # unusable: no calibrator
    alias = {"alias": "production", "version": 1, "updated_at": "2026-03-01", "updated_by": "t", "history": []}
    store.put(reader.alias_uri("production"), alias)
    view = _detail(config, store)["performance"]
    assert view["notes"] == ["no estimate for v0001 (registered before calibration; the next registration adds one)"]
    assert view["window"]["status"] == "no batch scored or estimated yet"


def test_odd_and_corrupt_records_render_instead_of_failing(config: ModelConfig) -> None:
    store = _store(config)
    store.put(config.paths.realised(W4), b"{truncated")  # skipped (logged); the estimate of W4 stays
    odd = {"day": W5.isoformat(), "value": "high", "version": "v2", "rows": "many", "join": [], "previous": "x"}
    store.put(config.paths.realised(W5), odd)
    store.put(config.paths.estimated(W1), {"day": W1.isoformat(), "metric": HOSTILE, "value": 0.7, "version": 1})
    data = _detail(config, store)
    w5 = data["performance"]["rows"][0]
    assert w5["realised"]["value"] is None and w5["realised"]["version"] is None and w5["realised"]["rows"] is None
    w1 = data["performance"]["rows"][-1]["estimated"]
    assert w1["other_metric"] == HOSTILE and w1["below"] is None  # another metric is not compared with the floor
    page = ui.model_html(data)
    assert "<h2>Performance</h2>" in page and "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&#x27; onmouseover=&#x27;x, not compared with the floor" in page


def test_weeks_limits_the_rows_to_the_newest_batches(config: ModelConfig) -> None:
    rows = series_rows(config, [realised(W1, 0.8, 1), realised(W3, 0.7, 1)], [estimated(W5, 0.7, 1)], weeks=2)
    assert [r["day"] for r in rows] == [W5.isoformat()]
    rows = series_rows(config, [realised(W1, 0.8, 1), realised(W3, 0.7, 1)], [estimated(W5, 0.7, 1)], weeks=3)
    assert [r["day"] for r in rows] == [W5.isoformat(), W3.isoformat()]


def test_the_series_is_served_from_the_cache_like_the_rest(config: ModelConfig) -> None:
    """Records are read with the rest of the model's state: a new record shows once the cache is refreshed."""
    store = _store(config)
    index = ui.RegistryIndex(store_factory=lambda c: store, registry_factory=RegistryReader, ttl=3600)
    index.models = lambda: {config.name: config}  # type: ignore[method-assign]
    first = ui.detail(index.state(config.name))["performance"]["rows"]
    put_records(store, config, [realised(W5, 0.8, 2)])
    assert ui.detail(index.state(config.name))["performance"]["rows"] == first  # cached
    index.ttl = 0
    assert ui.detail(index.state(config.name))["performance"]["rows"][0]["realised"]["value"] == 0.8
