"""Reading reference data (CSV or Parquet) into Arrow tables, and writing it back as Parquet for storage.

Example:
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "ref.csv"
    >>> _ = p.write_text("age,plan\\n31,a\\n45,b\\n")
    >>> read_table(p).num_rows
    2
"""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from modelpilot.errors import InvalidInputError

__all__ = ["read_table", "table_from_parquet_bytes", "table_to_parquet_bytes"]


def read_table(path: Path, *, what: str = "reference data") -> pa.Table:
    """Read a ``.csv`` or ``.parquet`` file; errors name the file and, where Arrow says, the row."""
    if not path.exists():
        raise InvalidInputError(f"{what} file {path} does not exist", hint="check the path")
    if not path.is_file():
        raise InvalidInputError(f"{what} {path} is not a file", hint="give a .csv or .parquet file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            table = pq.read_table(path)
        elif suffix in (".csv", ".txt"):
            table = pacsv.read_csv(path)
        else:
            raise InvalidInputError(
                f"{what} file {path} has an unknown extension {suffix!r}", hint="give a .csv or .parquet file"
            )
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        raise InvalidInputError(
            f"{what} file {path} cannot be parsed: {exc}",
            hint="check the file is well-formed CSV (with a header row) or Parquet",
        ) from exc
    if table.num_rows == 0:
        raise InvalidInputError(f"{what} file {path} has no rows", hint="give at least one row of data")
    return table


def table_to_parquet_bytes(table: pa.Table) -> bytes:
    """Serialise a table to Parquet (zstd) in memory, deterministically for the same table."""
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def table_from_parquet_bytes(path: Path) -> pa.Table:
    """Read a stored Parquet blob."""
    return pq.read_table(path)
