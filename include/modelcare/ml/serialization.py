"""Model files: skops only (never pickle or joblib), loaded against an explicit type allowlist.

A skops file is a zip holding ``schema.json`` (the object tree: every node names its type by
``__module__`` and ``__class__``) and the arrays as ``.npy`` files. Loading never imports a type
that is not allowed, so a crafted file cannot run code the way a pickle can.

Three checks guard ``load_model``, all before any object is built:

1. sizes: the members' declared uncompressed sizes and the array bytes each ``.npy`` header
   declares (shape x dtype) must stay within ``max_array_bytes`` (default 256 MiB), read from the
   zip directory and the headers alone, so a small file cannot make skops decompress or allocate
   gigabytes (a 1.6 MB file declaring a 1.6 GB array took 109 s and 3.4 GB to load);
2. every type named in ``schema.json`` must be in ``TRUSTED_TYPES`` (ours: narrower than skops'
   defaults, which trust every scikit-learn estimator, e.g. ``FunctionTransformer``);
3. ``skops.io.loads(data, trusted=TRUSTED_TYPES)`` runs skops' own audit of its node tree.

Limit (skops' own warning): the type check cannot vouch for the *content* of
``sklearn.tree._tree.Tree`` or ``TreePredictor`` (raw node indices, used without bounds checks),
so a crafted tree model can crash the process at predict time. Only load model bytes the
registry wrote, and pass their recorded ``sha256`` to ``load_model``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import math
import os
import sys
import warnings
import zipfile
from collections.abc import Iterator
from types import ModuleType
from typing import IO, Any

from include.modelcare.errors import ConfigError, ModelFileError, UntrustedModelError

log = logging.getLogger(__name__)

# Every type found in skops dumps of fitted modelcare pipelines (ColumnTransformer of
# SimpleImputer+StandardScaler / SimpleImputer+OneHotEncoder, then each estimator of
# estimators.ESTIMATORS), scikit-learn 1.9.1 / skops 0.16.0 / numpy 2.4. Derived by walking
# schema.json of dumps of: every estimator with default params; every loss each estimator offers
# (log_loss, exponential, squared/absolute error, huber, quantile, poisson, gamma); binary
# 0/1, bool, string and 3-class targets; class_weight as a dict; early stopping (validation split).
# skops' get_untrusted_types() on those dumps reported only numpy.dtype, sklearn.tree._tree.Tree
# and ...predictor.TreePredictor; the rest are trusted by skops too but listed here on purpose.
# tests/unit/ml/test_serialization.py re-derives the set, so an upgrade that adds a type fails there.
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

MAX_ARRAY_BYTES_ENV = "MODELCARE_MAX_MODEL_ARRAY_BYTES"
# The sample model's pipeline is ~10 KiB. The largest default estimator, RandomForest* (100 fully grown
# trees), declares ~2.8 MiB per tree at 100k training rows (~280 MiB): such a model needs a higher limit
# (or max_depth / min_samples_leaf), and dump_model says so at training time.
DEFAULT_MAX_ARRAY_BYTES = 256 * 1024 * 1024
_NPY_MAGIC = b"\x93NUMPY"


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


def array_limit(limit: int | None = None) -> int:
    """The size limit ``load_model`` applies: ``limit``, else ``$MODELCARE_MAX_MODEL_ARRAY_BYTES``, else 256 MiB."""
    if limit is None:
        raw = os.environ.get(MAX_ARRAY_BYTES_ENV, "").strip()
        if not raw:
            return DEFAULT_MAX_ARRAY_BYTES
        try:
            limit = int(raw)
        except ValueError:
            raise ConfigError(f"{MAX_ARRAY_BYTES_ENV}={raw!r} is not a whole number of bytes") from None
    if limit <= 0:
        raise ConfigError(f"the model array limit must be a positive number of bytes, not {limit}")
    return limit


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB ({n:,} bytes)"


def _npy_bytes(member: IO[bytes]) -> int | None:
    """The bytes a ``.npy`` stream's header declares (shape x itemsize), None if it is not ``.npy``."""
    from numpy.lib import format as npy

    if member.read(len(_NPY_MAGIC)) != _NPY_MAGIC:
        return None
    member.seek(0)
    version = npy.read_magic(member)
    if version == (1, 0):
        shape, _, dtype = npy.read_array_header_1_0(member)
    elif version == (2, 0):
        shape, _, dtype = npy.read_array_header_2_0(member)
    else:  # 3.0 only appears for non-latin-1 field names, which no scikit-learn model has
        raise ValueError(f".npy format version {version[0]}.{version[1]} is not accepted")
    return math.prod(int(n) for n in shape) * int(dtype.itemsize)


def check_sizes(data: bytes, limit: int | None = None) -> int:
    """Refuse (``ModelFileError``) a skops file that would decompress or allocate more than the limit.

    Reads only the zip directory and each member's first bytes: the sum of the members'
    uncompressed sizes (zipfile never inflates a member beyond its declared size) and the sum of
    the array bytes declared by every ``.npy`` header (numpy allocates the declared shape before
    reading the data, so a truncated member still costs the full size). Returns the declared
    array bytes. ``limit`` as in ``array_limit``.
    """
    limit = array_limit(limit)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            unpacked = sum(info.file_size for info in members)
            if unpacked > limit:
                raise ModelFileError(
                    f"model file refused: its {len(members)} members unpack to {_mib(unpacked)}, "
                    f"over the limit of {_mib(limit)} (${MAX_ARRAY_BYTES_ENV})"
                )
            declared = 0
            for info in members:
                with archive.open(info) as member:
                    declared += _npy_bytes(member) or 0
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, SyntaxError, NotImplementedError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(f"not a skops model file ({len(data)} bytes): {first[:300]}") from None
    if declared > limit:
        raise ModelFileError(
            f"model file refused: its arrays declare {_mib(declared)}, over the limit of {_mib(limit)} "
            f"(${MAX_ARRAY_BYTES_ENV})"
        )
    return declared


# Where Airflow's lazy redirects of moved names (``airflow.utils.timezone.*`` -> ``airflow.sdk.timezone``, ...)
# live; each one warns with ``DeprecatedImportWarning`` (a FutureWarning) on every attribute looked up.
_AIRFLOW_REDIRECTS = "airflow.utils.deprecation_tools"


@contextlib.contextmanager
def _no_airflow_redirect_warnings() -> Iterator[None]:
    """Silence the ``DeprecatedImportWarning`` that skops' module scan draws from Airflow, and only that.

    Why: ``import skops.io`` builds its list of trusted scipy ufuncs at import time, and for each ufunc
    without ``__module__`` skops' ``whichmodule`` does ``getattr(module, name, None)`` on every module in
    ``sys.modules``. Inside an Airflow worker those include Airflow's deprecated modules, whose
    ``__getattr__`` warns for any name: ~1,160 log lines (``airflow.utils.timezone.agm`` ... ``zetac``)
    on the first skops import of a task, none of them about our code. The filter matches that category
    raised from skops' own frames only; every other warning, and this one from anywhere else, surfaces.
    Outside Airflow (the SageMaker training image) the module is not loaded and there is nothing to filter.
    """
    redirects = sys.modules.get(_AIRFLOW_REDIRECTS)
    category = getattr(redirects, "DeprecatedImportWarning", None)
    if not (isinstance(category, type) and issubclass(category, Warning)):
        yield
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=category, module=r"skops\.")
        yield


def _skops_io() -> ModuleType:
    """``skops.io``, imported (the first time: the module scan above) without Airflow's redirect warnings."""
    with _no_airflow_redirect_warnings():
        import skops.io
    return skops.io


def _refuse(untrusted: list[str], what: str) -> UntrustedModelError:
    shown = ", ".join(untrusted[:10]) + (f" (+{len(untrusted) - 10} more)" if len(untrusted) > 10 else "")
    return UntrustedModelError(f"{what}: {len(untrusted)} type(s) outside the allowlist: {shown}")


def dump_model(model: Any) -> bytes:
    """Serialise a fitted model with skops (deflate-compressed); refuse one we could not load back.

    The bytes are not reproducible: skops records object ids, so the same model dumps differently.
    """
    skops_io = _skops_io()
    try:
        data = skops_io.dumps(model, compression=zipfile.ZIP_DEFLATED)
    except (TypeError, RecursionError) as exc:  # UnsupportedTypeException is a TypeError
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(f"cannot save {type(model).__name__} with skops: {first[:300]}") from None
    untrusted = untrusted_types(data)
    if untrusted:
        raise _refuse(untrusted, f"{type(model).__name__} would not load back")
    try:
        check_sizes(data)  # a model over the load limit fails here, at training, not at its first load
    except ModelFileError as exc:
        raise ModelFileError(f"{type(model).__name__} would not load back: {exc}") from None
    log.debug("dumped %s: %d bytes", type(model).__name__, len(data))
    return data


def load_model(data: bytes, *, sha256: str | None = None, max_array_bytes: int | None = None) -> Any:
    """Load a skops model file whose types are all in ``TRUSTED_TYPES``; nothing is built otherwise.

    ``sha256``: the digest recorded when the file was written; a mismatch is refused too.
    ``max_array_bytes``: the most its members may unpack to and its ``.npy`` headers may declare
    (each sum); default ``$MODELCARE_MAX_MODEL_ARRAY_BYTES`` (a whole number of bytes), else 256 MiB.
    Raises ``UntrustedModelError`` (naming the types or the digests), ``ModelFileError`` (not a
    skops file, over the size limit, or unloadable) or ``ConfigError`` (a bad limit).
    """
    if sha256 is not None and sha256_hex(data) != sha256.lower():
        raise UntrustedModelError(f"model file sha256 {sha256_hex(data)} does not match the expected {sha256.lower()}")
    check_sizes(data, max_array_bytes)
    untrusted = untrusted_types(data)
    if untrusted:
        raise _refuse(untrusted, "model file refused")

    skops_io = _skops_io()
    from skops.io.exceptions import UntrustedTypesFoundException

    try:
        return skops_io.loads(data, trusted=list(TRUSTED_TYPES))
    except UntrustedTypesFoundException as exc:  # skops' own audit found what the schema walk did not
        found = sorted(set(skops_io.get_untrusted_types(data=data)) - _TRUSTED) or [str(exc).splitlines()[0]]
        raise _refuse(found, "model file refused by skops") from None
    except (ValueError, TypeError, KeyError, AttributeError, ImportError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(f"cannot load model file ({len(data)} bytes): {first[:300]}") from None
