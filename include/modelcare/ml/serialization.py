"""Model files: skops only (never pickle or joblib), loaded against an explicit type allowlist.

A skops file is a zip holding ``schema.json`` (the object tree: every node names its type by
``__module__`` and ``__class__``) and the arrays as ``.npy`` files. Loading never imports a type
that is not allowed, so a crafted file cannot run code the way a pickle can.

Two checks guard ``load_model``, both before any object is built:

1. every type named in ``schema.json`` must be in ``TRUSTED_TYPES`` (ours: narrower than skops'
   defaults, which trust every scikit-learn estimator, e.g. ``FunctionTransformer``);
2. ``skops.io.loads(data, trusted=TRUSTED_TYPES)`` runs skops' own audit of its node tree.

Limit (skops' own warning): the type check cannot vouch for the *content* of
``sklearn.tree._tree.Tree`` or ``TreePredictor`` (raw node indices, used without bounds checks),
so a crafted tree model can crash the process at predict time. Only load model bytes the
registry wrote, and pass their recorded ``sha256`` to ``load_model``.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import zipfile
from typing import Any

from include.modelcare.errors import ModelFileError, UntrustedModelError

log = logging.getLogger(__name__)

# Every type found in skops dumps of fitted modelcare pipelines (ColumnTransformer of
# SimpleImputer+StandardScaler / SimpleImputer+OneHotEncoder, then each estimator of
# estimators.ESTIMATORS), scikit-learn 1.9.1 / skops 0.16.0 / numpy 2.4. Derived by walking
# schema.json of dumps of: every estimator with default params; every loss each estimator offers
# (log_loss, exponential, squared/absolute error, huber, quantile, poisson, gamma); binary
# 0/1, bool, string and 3-class targets; class_weight as a dict; early stopping (validation split).
# skops' get_untrusted_types() on those dumps reported only numpy.dtype, sklearn.tree._tree.Tree
# and ...predictor.TreePredictor; the rest are trusted by skops too but listed here on purpose.
# tests/unit/test_serialization.py re-derives the set, so an upgrade that adds a type fails there.
TRUSTED_TYPES: tuple[str, ...] = (
    # containers and primitives of the object tree
    "builtins.dict",
    "builtins.int",  # dict keys, e.g. class_weight={0: 1.0, 1: 3.0}
    "builtins.list",
    "builtins.slice",
    "builtins.str",
    "builtins.tuple",
    # numpy
    "numpy.dtype",
    "numpy.float64",
    "numpy.int64",
    "numpy.ndarray",
    "numpy.random._generator.Generator",
    "numpy.random.mtrand.RandomState",
    "numpy.uint64",
    # preprocessing and composition
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.impute._base.SimpleImputer",
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.preprocessing._encoders.OneHotEncoder",
    "sklearn.preprocessing._label.LabelEncoder",
    # the estimators of estimators.ESTIMATORS
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.ensemble._forest.RandomForestRegressor",
    "sklearn.ensemble._gb.GradientBoostingClassifier",
    "sklearn.ensemble._gb.GradientBoostingRegressor",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
    "sklearn.linear_model._base.LinearRegression",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.linear_model._ridge.Ridge",
    # their internals: trees, the initial DummyEstimator of GradientBoosting*, binning, losses, links
    "sklearn.dummy.DummyClassifier",
    "sklearn.dummy.DummyRegressor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.tree._classes.DecisionTreeRegressor",
    "sklearn.tree._tree.Tree",
    "sklearn._loss._loss.CyAbsoluteError",
    "sklearn._loss._loss.CyExponentialLoss",
    "sklearn._loss._loss.CyHalfBinomialLoss",
    "sklearn._loss._loss.CyHalfGammaLoss",
    "sklearn._loss._loss.CyHalfMultinomialLoss",
    "sklearn._loss._loss.CyHalfPoissonLoss",
    "sklearn._loss._loss.CyHalfSquaredError",
    "sklearn._loss._loss.CyHuberLoss",
    "sklearn._loss._loss.CyPinballLoss",
    "sklearn._loss.link.HalfLogitLink",
    "sklearn._loss.link.IdentityLink",
    "sklearn._loss.link.Interval",
    "sklearn._loss.link.LogLink",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.MultinomialLogit",
    "sklearn._loss.loss.AbsoluteError",
    "sklearn._loss.loss.ExponentialLoss",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.loss.HalfGammaLoss",
    "sklearn._loss.loss.HalfMultinomialLoss",
    "sklearn._loss.loss.HalfPoissonLoss",
    "sklearn._loss.loss.HalfSquaredError",
    "sklearn._loss.loss.HuberLoss",
    "sklearn._loss.loss.PinballLoss",
)
_TRUSTED = frozenset(TRUSTED_TYPES)


def sha256_hex(data: bytes) -> str:
    """Lowercase hex sha256 of ``data`` (what the registry records next to a model file)."""
    return hashlib.sha256(data).hexdigest()


def _schema(data: bytes) -> Any:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return json.loads(archive.read("schema.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ModelFileError(f"not a skops model file ({len(data)} bytes): {exc}") from None


def _walk(node: Any, found: set[str]) -> None:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            module, cls = item.get("__module__"), item.get("__class__")
            if isinstance(module, str) and isinstance(cls, str):
                found.add(f"{module}.{cls}")
                content = item.get("content")
                if item.get("__loader__") == "MethodNode" and isinstance(content, dict):
                    found.add(f"{module}.{cls}.{content.get('func')}")  # a bound method is its own type
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def model_types(data: bytes) -> set[str]:
    """Every type (``module.Class``) a skops file names, read from its schema without loading it."""
    found: set[str] = set()
    _walk(_schema(data), found)
    return found


def untrusted_types(data: bytes) -> list[str]:
    """The types of a skops file that are not in ``TRUSTED_TYPES`` (sorted; empty when loadable)."""
    return sorted(model_types(data) - _TRUSTED)


def _refuse(untrusted: list[str], what: str) -> UntrustedModelError:
    shown = ", ".join(untrusted[:10]) + (f" (+{len(untrusted) - 10} more)" if len(untrusted) > 10 else "")
    return UntrustedModelError(f"{what}: {len(untrusted)} type(s) outside the allowlist: {shown}")


def dump_model(model: Any) -> bytes:
    """Serialise a fitted model with skops (deflate-compressed); refuse one we could not load back.

    The bytes are not reproducible: skops records object ids, so the same model dumps differently.
    """
    import skops.io

    try:
        data = skops.io.dumps(model, compression=zipfile.ZIP_DEFLATED)
    except (TypeError, RecursionError) as exc:  # UnsupportedTypeException is a TypeError
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(f"cannot save {type(model).__name__} with skops: {first[:300]}") from None
    untrusted = untrusted_types(data)
    if untrusted:
        raise _refuse(untrusted, f"{type(model).__name__} would not load back")
    log.debug("dumped %s: %d bytes", type(model).__name__, len(data))
    return data


def load_model(data: bytes, *, sha256: str | None = None) -> Any:
    """Load a skops model file whose types are all in ``TRUSTED_TYPES``; nothing is built otherwise.

    ``sha256``: the digest recorded when the file was written; a mismatch is refused too.
    Raises ``UntrustedModelError`` (naming the types or the digests) or ``ModelFileError``.
    """
    if sha256 is not None and sha256_hex(data) != sha256.lower():
        raise UntrustedModelError(f"model file sha256 {sha256_hex(data)} does not match the expected {sha256.lower()}")
    untrusted = untrusted_types(data)
    if untrusted:
        raise _refuse(untrusted, "model file refused")

    import skops.io
    from skops.io.exceptions import UntrustedTypesFoundException

    try:
        return skops.io.loads(data, trusted=list(TRUSTED_TYPES))
    except UntrustedTypesFoundException as exc:  # skops' own audit found what the schema walk did not
        found = sorted(set(skops.io.get_untrusted_types(data=data)) - _TRUSTED) or [str(exc).splitlines()[0]]
        raise _refuse(found, "model file refused by skops") from None
    except (ValueError, TypeError, KeyError, AttributeError, ImportError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(f"cannot load model file ({len(data)} bytes): {first[:300]}") from None
