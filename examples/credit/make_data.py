"""Writes the credit example's files (deterministic): ``python examples/credit/make_data.py``.

- ``reference.csv``: 4000 applications with their ``default`` label, the reference data of version 1.
- ``traffic.csv``: 8000 later applications with a ``request_id``; from data row 5001 on, applicants' incomes fall
  and their debt ratios and late payments rise (the data set's ``shift=0.6``): a drift that starts at a known row.
- ``labels.csv``: the true ``default`` of each request, by ``request_id``.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from modelpilot.demo.data import credit_table

HERE = Path(__file__).parent
DRIFT_STARTS_AT_ROW = 5001


def build() -> dict[str, pa.Table]:
    """The three tables."""
    reference = credit_table(4000, seed=11)
    before = credit_table(DRIFT_STARTS_AT_ROW - 1, seed=12)
    after = credit_table(8000 - (DRIFT_STARTS_AT_ROW - 1), seed=13, shift=0.6)
    traffic = pa.concat_tables([before, after])
    ids = pa.array([f"req-{i:05d}" for i in range(1, traffic.num_rows + 1)])
    labels = pa.table({"request_id": ids, "default": traffic.column("default")})
    traffic = traffic.drop_columns(["default"]).add_column(0, "request_id", ids)
    return {"reference.csv": reference, "traffic.csv": traffic, "labels.csv": labels}


if __name__ == "__main__":
    for name, table in build().items():
        pacsv.write_csv(table, HERE / name)
        print(f"wrote {HERE / name} ({table.num_rows} rows)")
