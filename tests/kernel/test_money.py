"""Tests of portal.kernel.money."""

from __future__ import annotations

from portal.kernel.money import format_vnd


def test_format_vnd() -> None:
    assert format_vnd(200_000) == "200.000\u00a0đồng"
    assert format_vnd(0) == "0\u00a0đồng"
    assert format_vnd(1_234_567) == "1.234.567\u00a0đồng"
    assert format_vnd(-50_000) == "-50.000\u00a0đồng"
