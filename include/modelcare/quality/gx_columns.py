"""The batch's columns in the dtypes Great Expectations 1.24.1 checks without per-value Python.

``ExpectColumnValuesToBeInTypeList`` decides a numpy or pandas-nullable column by its dtype in one
step, but on an ``object`` column it calls a Python function on every value (4.6 s of a 26 s run at
1M rows x 25 features; 71% of the run with only the 5 text columns), and it matches pandas
``category`` and pyarrow-backed strings against no type name. Hence, per configured column:

* a categorical feature whose dtype already shows every non-null value is a ``str`` (``category``
  with ``str`` categories, a pandas string dtype, or ``object`` whose values ``infer_dtype`` finds all
  ``str``: one vectorised pass) goes to GX as ``category``: nulls and value sets are then checked on
  integer codes, and its type check is settled by the dtype (``validation`` reports it);
* a categorical feature holding anything else goes to GX as ``object``, value by value, so that the
  failure counts and names the offending rows as before;
* a numerical feature in a non-numpy numeric dtype (nullable ``Int64``, pyarrow ints) goes as
  ``float64``, and Python numbers or Decimals in an ``object`` column (parquet DECIMAL) as ``float64``.

Which text dtype a batch arrives in (``object`` from a plain parquet read, ``category`` from
``storage.tables.read_files(..., categories=...)``, pandas strings) does not change any result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from include.modelcare.quality.rules import required_columns

if TYPE_CHECKING:
    import pandas as pd

    from include.modelcare.config.schema import ModelConfig

# pandas.api.types.infer_dtype kinds of an object column that hold only numbers (or only nulls).
NUMERIC_OBJECT_KINDS = frozenset({"integer", "floating", "mixed-integer-float", "decimal", "empty"})
# ... and the kinds of a column (or of a category's categories) that holds only str (or only nulls).
TEXT_KINDS = frozenset({"string", "empty"})


def columns_for_gx(frame: pd.DataFrame, config: ModelConfig) -> tuple[dict[str, pd.Series], set[str]]:
    """The required columns present in the batch, each in the dtype it goes to GX in, and the
    categorical features whose dtype settles their type check (every value a ``str``).

    The caller's frame is not changed; unconverted columns are the batch's own Series (no copy).
    """
    import pandas as pd

    numerical, categorical = set(config.data.features.numerical), set(config.data.features.categorical)
    columns: dict[str, pd.Series] = {}
    text_by_dtype: set[str] = set()
    for col in (c for c in required_columns(config) if c in frame.columns):
        series = frame[col]
        dtype = series.dtype
        if col in numerical and is_numeric(dtype) and str(dtype) not in ("int64", "float64"):
            # GX's vectorised range check needs int64/float64 and its type list misses pyarrow numerics.
            series = series.astype("float64")
        elif (
            col in numerical
            and pd.api.types.is_object_dtype(dtype)
            and pd.api.types.infer_dtype(series, skipna=True) in NUMERIC_OBJECT_KINDS
        ):
            # Python numbers or Decimals (parquet DECIMAL) in an object column; anything else stays
            # object, so the type check names the offending values.
            series = pd.to_numeric(series, errors="coerce").astype("float64")
        elif col in categorical:
            text = text_as_category(series)
            if text is not None:
                series = text
                text_by_dtype.add(col)
            elif isinstance(dtype, pd.CategoricalDtype):
                series = series.astype(object)  # e.g. int categories: GX names the offending values
        columns[col] = series
    return columns, text_by_dtype


def text_as_category(series: pd.Series) -> pd.Series | None:
    """``series`` as a ``category`` Series when its dtype (or one vectorised pass over an object column)
    shows every non-null value is a ``str``; ``None`` when it holds anything else."""
    import pandas as pd

    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        # Unused categories count too: a non-str one sends the column value by value (same verdict).
        return series if pd.api.types.infer_dtype(dtype.categories, skipna=True) in TEXT_KINDS else None
    if pd.api.types.is_object_dtype(dtype):
        return series.astype("category") if pd.api.types.infer_dtype(series, skipna=True) in TEXT_KINDS else None
    if pd.api.types.is_string_dtype(dtype):  # pandas "string" (python or pyarrow storage): str by definition
        return series.astype("category")
    return None


def is_numeric(dtype: Any) -> bool:
    """Numbers, not booleans (GX's numeric type list leaves ``bool`` out as well)."""
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype))
