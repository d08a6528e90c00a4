"""The SVG charts of /stats: well-formed, named for screen readers, drawn to scale, escaped, no inline style."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from portal.stats.charts import (
    EARLY,
    LATE,
    ON_TIME,
    Bar,
    Series,
    Slice,
    donut,
    horizontal_bars,
    nice_ceiling,
    stacked_bars,
    swatch,
)

SVG = "{http://www.w3.org/2000/svg}"


def _parse(markup: str) -> ET.Element:
    assert "style=" not in markup  # the CSP (style-src 'self') would drop it
    return ET.fromstring(markup)


def _named(root: ET.Element, chart_id: str, title: str, desc: str) -> None:
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == f"{chart_id}-title {chart_id}-desc"
    title_el = root.find(f"{SVG}title")
    desc_el = root.find(f"{SVG}desc")
    assert title_el is not None and title_el.get("id") == f"{chart_id}-title" and title_el.text == title
    assert desc_el is not None and desc_el.get("id") == f"{chart_id}-desc" and desc_el.text == desc


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, (1, 1)), (1, (1, 1)), (3, (3, 1)), (7, (8, 2)), (10, (10, 2)), (123, (150, 50)), (999, (1000, 200))],
)
def test_axis_top_is_a_round_number_above_the_value(value: int, expected: tuple[int, int]) -> None:
    top, step = nice_ceiling(value)
    assert (top, step) == expected
    assert top >= value and top % step == 0 and 1 <= top // step <= 5


def test_stacked_bars_scale_each_segment_and_title_it() -> None:
    series = [
        Series("Sớm hạn", EARLY, (2, 0, 1)),
        Series("Đúng hạn", ON_TIME, (4, 0, 1)),
        Series("Trễ hạn", LATE, (2, 0, 0)),
    ]
    markup = stacked_bars(
        chart_id="monthly", title="Theo tháng", desc="Ba tháng", categories=["01/2025", "02/2025", "03/2025"],
        series=series, fmt=lambda n: f"{n:,}".replace(",", "."), width=640, height=300,
    )  # fmt: skip
    root = _parse(markup)
    _named(root, "monthly", "Theo tháng", "Ba tháng")
    rects = root.findall(f".//{SVG}rect")
    # Zero values draw nothing: 3 segments in January, none in February, 2 in March.
    assert len(rects) == 5
    tips = [r.findtext(f"{SVG}title") for r in rects]
    assert tips[:3] == ["01/2025 — Sớm hạn: 2", "01/2025 — Đúng hạn: 4", "01/2025 — Trễ hạn: 2"]
    # The axis goes to 8 (the tallest bar, 2+4+2): January fills the plot height (300 - 12 - 40 = 248).
    heights = [float(r.get("height", "0")) for r in rects[:3]]
    assert sum(heights) == pytest.approx(248)
    assert heights[1] == pytest.approx(2 * heights[0])
    # Stacked from the bottom: each segment sits on the one before it.
    ys = [float(r.get("y", "0")) for r in rects[:3]]
    assert ys[0] == pytest.approx(12 + 248 - heights[0]) and ys[1] == pytest.approx(ys[0] - heights[1])
    assert [r.get("fill") for r in rects[:3]] == [EARLY, ON_TIME, LATE]
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert {"01/2025", "02/2025", "03/2025", "0", "8"} <= set(labels)


def test_stacked_bars_thin_out_labels_when_many_months() -> None:
    months = [f"{m:02d}/20{y}" for y in (23, 24, 25, 26, 27) for m in range(1, 13)]
    markup = stacked_bars(
        chart_id="c", title="t", desc="d", categories=months, series=[Series("x", EARLY, tuple(range(60)))]
    )
    shown = [t.text for t in _parse(markup).iter(f"{SVG}text") if t.text and "/" in t.text]
    assert months[0] in shown and 1 < len(shown) <= 11  # 584 px of plot: at most one label per 56 px


def test_stacked_bars_refuse_a_series_of_the_wrong_length() -> None:
    with pytest.raises(ValueError, match="2 values for 3 categories"):
        stacked_bars(chart_id="c", title="t", desc="d", categories=["a", "b", "c"], series=[Series("x", EARLY, (1, 2))])


def test_empty_bars_still_have_an_axis() -> None:
    root = _parse(stacked_bars(chart_id="c", title="t", desc="d", categories=[], series=[]))
    assert root.findall(f".//{SVG}rect") == [] and root.findall(f".//{SVG}line")


def test_text_is_escaped() -> None:
    markup = stacked_bars(
        chart_id="c",
        title='<script>"x"</script>',
        desc="a & b",
        categories=["<b>"],
        series=[Series("<i>", "#000", (1,))],
    )
    root = _parse(markup)
    assert root.findtext(f"{SVG}title") == '<script>"x"</script>'
    assert "<script>" not in markup and "&lt;b&gt;" in markup


def test_donut_shares_add_up_and_start_at_the_top() -> None:
    slices = [Slice("Sớm", EARLY, 1), Slice("Đúng", ON_TIME, 2), Slice("Trễ", LATE, 1), Slice("Khác", "#000", 0)]
    root = _parse(donut(chart_id="share", title="Tỉ lệ", desc="d", slices=slices, centre="75 %", centre_sub="đúng hạn"))
    _named(root, "share", "Tỉ lệ", "d")
    circles = root.findall(f"{SVG}circle")
    assert len(circles) == 4  # the grey track and three shares (a zero share draws nothing)
    dashes = [c.get("stroke-dasharray") for c in circles[1:]]
    assert dashes == ["25 75", "50 50", "25 75"]
    assert [c.get("transform") for c in circles[1:]] == [
        "rotate(-90 110 110)",
        "rotate(0 110 110)",
        "rotate(180 110 110)",
    ]
    assert [c.findtext(f"{SVG}title") for c in circles[1:]] == ["Sớm: 1", "Đúng: 2", "Trễ: 1"]
    assert [t.text for t in root.iter(f"{SVG}text")] == ["75 %", "đúng hạn"]


def test_empty_donut_is_a_grey_ring() -> None:
    root = _parse(donut(chart_id="e", title="t", desc="d", slices=[Slice("a", EARLY, 0)], centre="—"))
    assert len(root.findall(f"{SVG}circle")) == 1


def test_horizontal_bars_on_a_fixed_scale() -> None:
    bars = [Bar("Thái độ tiếp đón", 4.5, "4,50"), Bar("Hướng dẫn", 2.25, "2,25"), Bar("Đúng hẹn", None, "—")]
    root = _parse(horizontal_bars(chart_id="sat", title="Hài lòng", desc="d", bars=bars, maximum=5, width=360))
    _named(root, "sat", "Hài lòng", "d")
    filled = [r for r in root.iter(f"{SVG}rect") if r.findtext(f"{SVG}title")]
    track = 360 - 56
    assert [float(r.get("width", "0")) for r in filled] == pytest.approx([track * 0.9, track * 0.45])
    assert [r.findtext(f"{SVG}title") for r in filled] == ["Thái độ tiếp đón: 4,50", "Hướng dẫn: 2,25"]
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert texts == ["Thái độ tiếp đón", "4,50", "Hướng dẫn", "2,25", "Đúng hẹn", "—"]
    with pytest.raises(ValueError):
        horizontal_bars(chart_id="x", title="t", desc="d", bars=bars, maximum=0)


def test_swatch_is_hidden_from_screen_readers() -> None:
    root = _parse(swatch(LATE))
    assert root.get("aria-hidden") == "true" and root.find(f"{SVG}rect") is not None
