"""The report posted to the national portal is in the OpenAPI document's `webhooks` section, with its headers."""

from __future__ import annotations

from fastapi.testclient import TestClient

from portal.national.wire import Report


def test_the_national_report_is_documented_as_a_webhook(client: TestClient) -> None:
    spec = client.get("/api/openapi.json").json()
    operation = spec["webhooks"]["national.report"]["post"]
    headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
    assert headers == {"authorization", "idempotency-key", "x-dvc-timestamp", "x-dvc-signature"}
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/Report"}
    documented = spec["components"]["schemas"]["Report"]
    assert set(documented["properties"]) == set(Report.model_fields)
    assert {"MaBaoCao", "MaTinh", "HoSo", "SoThuTu"} <= set(documented["required"])
