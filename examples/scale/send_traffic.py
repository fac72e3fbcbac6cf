"""Send examples/credit/traffic.csv through one or more modelpilot servers, 25 rows a request, round-robin, and
post each request's true outcomes (examples/credit/labels.csv) back as feedback naming the model.

    python examples/scale/send_traffic.py http://127.0.0.1:8001 http://127.0.0.1:8002

The traffic drifts from data row 5001 on (examples/credit/make_data.py), so the monitors raise a drift alarm.
"""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

import httpx2 as httpx

HERE = Path(__file__).resolve().parent.parent / "credit"
FEATURES = ["income", "debt_ratio", "age", "late_payments", "employment", "region"]
NUMERIC = {"income": float, "debt_ratio": float, "age": int, "late_payments": int}
ROWS = 25


def wait_ready(client: httpx.Client, url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if client.get(f"{url}/v2/health/ready").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} is not ready after {timeout:.0f} s")


def main(urls: list[str]) -> int:
    with (HERE / "traffic.csv").open() as f:
        rows = [{k: NUMERIC.get(k, str)(r[k]) for k in FEATURES} for r in csv.DictReader(f)]
    with (HERE / "labels.csv").open() as f:
        labels = [int(r["default"]) for r in csv.DictReader(f)]
    with httpx.Client(timeout=30.0) as client:
        for url in urls:
            wait_ready(client, url)
        for i, start in enumerate(range(0, len(rows), ROWS)):
            url = urls[i % len(urls)]
            reply = client.post(f"{url}/v1/models/credit:predict", json={"instances": rows[start : start + ROWS]})
            reply.raise_for_status()
            feedback = [{"request_id": reply.json()["request_id"], "label": labels[start : start + ROWS],
                         "model": "credit"}]  # fmt: skip
            client.post(f"{url}/v1/feedback", json=feedback).raise_for_status()
    print(f"sent {len(rows)} rows in {(len(rows) + ROWS - 1) // ROWS} requests, with their labels")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["http://127.0.0.1:8000"]))
