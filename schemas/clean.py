"""Clean layer schemas: one pandera model per extract source and one for the register.

Grain: one row per clean record (extracts: per ``(source, period, record_no)``; register: per
person and folder period). The models are built from :mod:`pipelines.sources`, so a column added
there is checked here without restating it.
"""

from __future__ import annotations

from collections.abc import Callable

import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData

from pipelines.normalize.ids import ID_STATUSES
from pipelines.sources import REGISTER, SOURCES, Source

#: Clean dtype of each column kind of ``pipelines.sources``.
KIND_DTYPES: dict[str, type[pl.DataType]] = {
    "text": pl.String,
    "money": pl.Int64,
    "month": pl.String,
    "date_req": pl.Date,
    "date_opt": pl.Date,
    "decimal": pl.Float64,
}

IDENTITY_COLUMNS: tuple[str, ...] = (
    "id_raw", "id_norm", "id18", "id_status", "id_birth_on", "id_sex",
    "name_raw", "name_norm", "name_pinyin",
)
LEAD_COLUMNS: tuple[str, ...] = ("source", "period", "file", "row_number")

_PERIOD = r"^\d{4}-(0[1-9]|1[0-2])$"
_ID18 = r"^[0-9]{17}[0-9X]$"


def _holds(name: str, rule: Callable[[pl.Expr], pl.Expr]) -> pa.Check:
    """A column check evaluated as one aggregate (True when every non-null value passes).

    Pandera's built-in checks materialise a per-row result and its failure cases for every
    check (about half a second per 250,000 rows for this schema); one boolean per check is
    what the clean layer needs, and it never carries a value (IDs and names) into an error.
    """

    def check(data: PolarsData) -> bool:
        column = pl.col(data.key)
        verdict = data.lazyframe.select(rule(column).fill_null(True).all()).collect(engine="in-memory")
        return bool(verdict.item())

    return pa.Check(check, name=name)


def _identity_columns() -> dict[str, pa.Column]:
    return {
        "id_raw": pa.Column(pl.String, nullable=True),
        "id_norm": pa.Column(pl.String, nullable=True),
        "id18": pa.Column(pl.String, _holds("id18_pattern", lambda c: c.str.contains(_ID18)), nullable=True),
        "id_status": pa.Column(pl.String, _holds("id_status_known", lambda c: c.is_in(list(ID_STATUSES)))),
        "id_birth_on": pa.Column(pl.Date, nullable=True),
        "id_sex": pa.Column(pl.String, _holds("sex_known", lambda c: c.is_in(["男", "女"])), nullable=True),
        "name_raw": pa.Column(pl.String, nullable=True),
        "name_norm": pa.Column(pl.String, nullable=True),
        "name_pinyin": pa.Column(pl.String, nullable=True),
    }


def _own_columns(spec: Source, skip: tuple[str, ...]) -> dict[str, pa.Column]:
    columns: dict[str, pa.Column] = {}
    for col in spec.columns:
        if col.en in skip or col.kind in ("id", "name"):
            continue
        required_value = col.kind in ("money", "month", "date_req")
        checks = []
        if col.kind == "month":
            checks.append(_holds("month_pattern", lambda c: c.str.contains(_PERIOD)))
        columns[col.en] = pa.Column(KIND_DTYPES[col.kind], checks, nullable=not required_value)
    return columns


def extract_schema(source: str) -> pa.DataFrameSchema:
    """The clean-layer schema of one extract source.

    Parameters
    ----------
    source
        A name of :data:`pipelines.sources.SOURCES`.

    Returns
    -------
    pa.DataFrameSchema
        Strict (no other columns), ordered as the clean layer delivers them.
    """
    spec = SOURCES[source]
    columns = {
        "source": pa.Column(pl.String, _holds("source_name", lambda c: c == source)),
        "period": pa.Column(pl.String, _holds("period_pattern", lambda c: c.str.contains(_PERIOD))),
        "file": pa.Column(pl.String),
        "row_number": pa.Column(pl.Int64, _holds("row_number_positive", lambda c: c >= 1)),
        "record_no": pa.Column(pl.String),
        **_identity_columns(),
        **_own_columns(spec, ("record_no",)),
    }
    return pa.DataFrameSchema(columns, strict=True, ordered=True, name=f"clean_{source}")


def register_schema() -> pa.DataFrameSchema:
    """The clean-layer schema of the register (one row per person)."""
    columns = {
        "source": pa.Column(pl.String, _holds("source_name", lambda c: c == "register")),
        "period": pa.Column(pl.String, _holds("period_pattern", lambda c: c.str.contains(_PERIOD))),
        "file": pa.Column(pl.String),
        "row_number": pa.Column(pl.Int64, _holds("row_number_positive", lambda c: c >= 1)),
        "household_id": pa.Column(pl.String),
        "person_id": pa.Column(pl.String),
        **_identity_columns(),
        **_own_columns(REGISTER, ("household_id", "person_id")),
    }
    return pa.DataFrameSchema(columns, strict=True, ordered=True, name="clean_register")


CLEAN_SCHEMAS: dict[str, pa.DataFrameSchema] = {
    **{name: extract_schema(name) for name in SOURCES},
    "register": register_schema(),
}


#: The key column of each clean frame: unique within one source and folder.
KEYS: dict[str, str] = {**{name: "record_no" for name in SOURCES}, "register": "person_id"}


class CleanLayerError(ValueError):
    """A clean frame broke its schema: a bug in the clean stage, never a data problem."""


def check_clean_layout(frame: pl.DataFrame, *, source: str) -> pl.DataFrame:
    """Check a clean frame's columns, their order and dtypes against its source's schema.

    The check the clean stage runs on every folder. Pandera validates a LazyFrame at schema
    depth: no value is scanned again. The value rules of the schema hold by construction of
    :mod:`pipelines.clean`, whose parse is what decides them (a required amount, month or date
    that is blank or does not parse, a blank 记录号/个人编号, a repeated key: the row is
    quarantined, never clean; ``id18``, ``id_status``, ``id_sex`` and months are produced only
    in their patterns). :func:`validate_clean` checks the values too.

    Parameters
    ----------
    frame
        Clean rows of one source (or the register).
    source
        Its source name, ``register`` included.

    Returns
    -------
    pl.DataFrame
        The same frame.

    Raises
    ------
    CleanLayerError
        Naming the missing, extra, misordered or mistyped columns.
    """
    try:
        CLEAN_SCHEMAS[source].validate(frame.lazy(), lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        # a column missing or extra is named by its failure case, a wrong dtype by its column
        detail = "; ".join(sorted({f"{check}: {col if col in CLEAN_SCHEMAS[source].columns else case}"
                                   for col, check, case in
                                   cases.select("column", "check", "failure_case").iter_rows()}))
        raise CleanLayerError(f"clean {source} frame breaks its schema: {detail}") from None
    return frame


def validate_clean(frame: pl.DataFrame, *, source: str) -> pl.DataFrame:
    """Validate a clean frame against its source's schema and key uniqueness.

    Parameters
    ----------
    frame
        Clean rows of one source (or the register).
    source
        Its source name, ``register`` included.

    Returns
    -------
    pl.DataFrame
        The same frame, validated.

    Raises
    ------
    CleanLayerError
        Naming the failed columns and checks with failure counts, never the values (they may be
        ID numbers or names).
    """
    try:
        CLEAN_SCHEMAS[source].validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        # schema-level failures (a column missing, extra or mistyped) name a column, not data
        schema_level = cases.filter(pl.col("schema_context") == "DataFrameSchema")
        columns = sorted({str(v) for v in schema_level.get_column("failure_case").to_list()})
        data_level = cases.filter(pl.col("schema_context") != "DataFrameSchema")
        summary = data_level.group_by("column", "check").len().sort("column", "check").rows()
        detail = "; ".join([f"{col} {check}: {n} row(s)" for col, check, n in summary]
                           + ([f"columns {', '.join(columns)}"] if columns else []))
        raise CleanLayerError(f"clean {source} frame breaks its schema: {detail}") from None
    except pl.exceptions.PolarsError:
        # pandera itself fails on some frames of another shape (it cannot collect failure
        # cases of mixed types): name the columns instead of a traceback
        want = set(CLEAN_SCHEMAS[source].columns)
        odd = sorted(want ^ set(frame.columns)) or sorted(want)
        raise CleanLayerError(f"clean {source} frame breaks its schema: columns "
                              f"{', '.join(odd)}") from None
    # uniqueness checked here: pandera's own unique check costs a second per million rows
    key = KEYS[source]
    repeated = int(frame.select(pl.col(key).is_duplicated().sum()).item())
    if repeated:
        raise CleanLayerError(f"clean {source} frame repeats {key} in {repeated} row(s)")
    return frame
