"""Filing through the page, as a browser does."""

from __future__ import annotations

import re
import secrets
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import csrf

CODE_IN_URL = re.compile(r"^/feedback/(PA-\d{4}-[2-9A-HJKMNP-Z]{6})$")
PROCEDURE = "1.004873"


def form(**over: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "kind": "complaint",
        "about": "procedure",
        "procedure_code": PROCEDURE,
        "title": f"Chậm trả kết quả {secrets.token_hex(3)}",
        "body": "Hồ sơ của tôi đã quá hạn hai tuần mà chưa có kết quả, xin cơ quan trả lời.",
        "name": "Trần Văn Bình",
        "email": f"binh-{secrets.token_hex(4)}@example.vn",
        "phone": "",
    }
    values.update(over)
    return {k: v for k, v in values.items() if v is not None}


def post(client: TestClient, data: dict[str, Any], files: dict[str, Any] | None = None) -> Any:
    token = csrf(client, "/feedback/new")
    return client.post("/feedback/new", data={"csrf_token": token, **data}, files=files)


def file_ok(client: TestClient, **over: Any) -> str:
    """File an item; its tracking code."""
    r = post(client, form(**over))
    assert r.status_code == 303, r.text
    match = CODE_IN_URL.match(r.headers["location"])
    assert match, r.headers["location"]
    return match.group(1)
