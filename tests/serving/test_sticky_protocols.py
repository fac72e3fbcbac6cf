"""A sticky key routes a user to the same variant whichever protocol carried it: v1 records and OIP v2 tensors
agree on 31 and 31.0."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from modelpilot.config import load_settings
from modelpilot.loaders import TrustRequest
from modelpilot.registry import Registry
from modelpilot.serving.app import create_app
from modelpilot.serving.plan import TrafficPlan
from modelpilot.serving.traffic import TrafficPlans

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "credit"
ROW = {"income": 40000.0, "debt_ratio": 0.2, "employment": "salaried", "region": "east", "late_payments": 0}


def test_v1_and_v2_route_one_sticky_value_to_one_variant(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path / "home", actor="tester", events={"enabled": False})
    reg = Registry.open(settings)
    for _ in range(2):
        reg.register(
            "credit", f"{EXAMPLE / 'model.py'}:CreditModel", format="python", reference=EXAMPLE / "reference.csv",
            target="default", trust=TrustRequest(trust_code=True, reason="test"),
        )  # fmt: skip
    plan = TrafficPlan(model="credit", stable=1, canary=2, weight=50, sticky_field="age")
    TrafficPlans(reg.store).set(plan, actor="tester", reason="sticky")
    reg.store.close()
    with TestClient(create_app(settings)) as client:
        for age in range(20, 60):
            v1 = client.post("/v1/models/credit:predict", json={"instances": [{**ROW, "age": float(age)}]})
            inputs = [{"name": k, "shape": [1], "datatype": "BYTES" if isinstance(v, str) else "FP64", "data": [v]}
                      for k, v in ROW.items()]  # fmt: skip
            inputs.append({"name": "age", "shape": [1], "datatype": "INT64", "data": [age]})
            v2 = client.post("/v2/models/credit/infer", json={"inputs": inputs})
            assert v1.status_code == 200 and v2.status_code == 200, (v1.text, v2.text)
            assert v1.json()["variant"] == v2.headers.get(
                "x-modelpilot-variant", v2.json().get("parameters", {}).get("variant")
            ), age
