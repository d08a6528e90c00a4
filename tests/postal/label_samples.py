"""Sample label orders shared by the label's tests, the QA of the operators' API and `bench/postal.py`.

Only the standard library and `postal.models`: the benchmark imports it on the main install (no test tools).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from postal.models import ParcelKind, PostalOrder

CENTRE = {
    "name": "Trung tâm Phục vụ hành chính công tỉnh Ninh Bình",
    "phone": "02293871234",
    "province": "37",
    "ward": "14329",  # Phường Hoa Lư
    "street": "Số 1 đường Lê Hồng Phong",
    "notes": "",
}
CITIZEN = {
    "name": "Nguyễn Thị Hương",
    "phone": "0912345678",
    "province": "01",
    "ward": "00070",  # Phường Hoàn Kiếm
    "street": "Số 12 ngõ 34 phố Lý Thái Tổ",
    "notes": "Gọi trước khi giao, giờ hành chính",
}
# The longest parts postal.addresses.PostalAddress accepts (name 120, street 200, notes 300).
LONGEST = {"name": "Ầ" * 120, "street": ("Số " + "Ẫ" * 300)[:200], "notes": ("Ghi chú giao hàng " * 20)[:300]}


def long_contents(n: int) -> list[dict[str, str]]:
    """`n` result documents with 120-character names (the label shortens them to fit)."""
    return [{"id": f"ket_qua_{i}", "name_vi": ("Bản chính giấy tờ số " * 10)[:120], "name_en": ""} for i in range(n)]


def label_order(**overrides: Any) -> PostalOrder:
    """A claimed delivery order with cash on delivery, in memory (no database)."""
    values: dict[str, Any] = {
        "number": "BC2507120001",
        "kind": ParcelKind.DELIVERY,
        "operator": "vnpost",
        "owner_id": "a" * 32,
        "reference": "G01.37-250712-0042",
        "tracking_number": "RD123456785VN",
        "province_code": "01",
        "sender": CENTRE,
        "recipient": CITIZEN,
        "contents": [{"id": "gplx", "name_vi": "Giấy phép lái xe", "name_en": "Driving licence"}],
        "weight_class": "document",
        "fee": 32_000,
        "cod_amount": 123_000,
        "created_at": datetime(2025, 7, 12, 3, 0, tzinfo=UTC),
    }
    values.update(overrides)
    return PostalOrder(**values)
