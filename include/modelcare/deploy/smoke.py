"""The smoke test's request and its verdict, as pure functions.

Why pure: what counts as "the new version answered correctly" is the deployment's last gate before the
bake, so it is pinned by unit tests without any target; the targets only carry the bytes.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from include.modelcare.errors import SmokeTestFailed

if TYPE_CHECKING:
    from include.modelcare.deploy.targets.base import SmokeAnswer


def smoke_records(reference: Any, features: dict[str, Any], rows: int) -> list[dict[str, Any]]:
    """The first ``rows`` rows of the reference sample as JSON records of the feature columns."""
    columns = [*features.get("numerical", []), *features.get("categorical", [])]
    frame = reference[columns].head(rows)
    records = []
    for row in frame.to_dict(orient="records"):
        records.append({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()})
    return records


def check_answer(answer: SmokeAnswer, *, rows: int, version_id: str, classifier: bool) -> dict[str, Any]:
    """Predictions of the right shape from the right version, or ``SmokeTestFailed`` saying what is wrong."""
    body = answer.body
    predictions = body.get("predictions")
    if not isinstance(predictions, list) or len(predictions) != rows:
        got = len(predictions) if isinstance(predictions, list) else type(predictions).__name__
        raise SmokeTestFailed(f"expected {rows} predictions, got {got}")
    if body.get("version") != version_id:
        raise SmokeTestFailed(f"answered by version {body.get('version')!r}, expected {version_id}")
    if classifier:
        scores = body.get("scores")
        if not isinstance(scores, list) or len(scores) != rows:
            raise SmokeTestFailed(f"expected {rows} scores, got {scores!r:.80}")
        bad = [s for s in scores if not isinstance(s, int | float) or not 0 <= s <= 1]
        if bad:
            raise SmokeTestFailed(f"{len(bad)} score(s) outside [0, 1], e.g. {bad[0]!r}")
    return {"rows": rows, "version": body.get("version"), "answered_by": answer.answered_by}
