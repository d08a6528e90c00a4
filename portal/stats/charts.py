"""Charts as server-rendered SVG: pure functions from numbers to markup, readable without JavaScript.

Each chart is an `<svg role="img">` named by its `<title>` and described by its `<desc>` (through
`aria-labelledby`); every mark carries its own `<title>` (shown on hover). Colours are SVG presentation
attributes, not `style`, so the page's CSP (style-src 'self') holds; the size comes from static/css/stats.css.
The caller passes translated texts and a number formatter: this module knows no language and no database.
The page puts a data table next to every chart for screen readers (the chart is a picture of that table).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from markupsafe import Markup, escape

Number = int | float
Formatter = Callable[[Number], str]

# Timeliness colours: dark enough on white (WCAG 1.4.11: 3:1 for graphics) and apart in lightness too, so
# they stay distinct without colour vision; segments are also separated by a white line.
EARLY: Final = "#1f4e9c"
ON_TIME: Final = "#2e7d32"
LATE: Final = "#b3001b"
NEUTRAL: Final = "#5f6b73"
EMPTY: Final = "#d9d9d6"
INK: Final = "#1d1d1b"
GRID: Final = "#b1b4b6"

FONT: Final = 'font-family="Noto Sans, Segoe UI, Roboto, Arial, sans-serif"'


@dataclass(frozen=True, slots=True)
class Series:
    """One stacked layer of a bar chart: its legend name, colour and one value per category."""

    name: str
    colour: str
    values: tuple[Number, ...]


@dataclass(frozen=True, slots=True)
class Slice:
    """One share of a donut: its name, colour and value."""

    name: str
    colour: str
    value: Number


@dataclass(frozen=True, slots=True)
class Bar:
    """One horizontal bar: its label, value (None: no data, drawn empty) and the text written after it."""

    label: str
    value: Number | None
    text: str


def _plain(value: Number) -> str:
    return str(value)


def _num(value: float) -> str:
    """An SVG coordinate: at most two decimals, no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def nice_ceiling(value: Number) -> tuple[int, int]:
    """The top of a value axis at or above `value` and its tick step: 1, 2 or 5 times a power of ten,
    with 2 to 5 steps (at least 1 so that an empty chart still has an axis)."""
    if value <= 0:
        return 1, 1
    exponent = math.floor(math.log10(value))
    for power in (exponent - 1, exponent):
        for factor in (1, 2, 5):
            step = factor * 10**power
            if step >= 1 and math.ceil(value / step) <= 5:
                step = int(step)
                return step * max(1, math.ceil(value / step)), step
    step = 10 ** (exponent + 1)
    return step, step


def _open(chart_id: str, title: str, desc: str, width: int, height: int, css_class: str) -> list[str]:
    cid = escape(chart_id)
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {escape(css_class)}" viewBox="0 0 {width} {height}"'
        f' role="img" aria-labelledby="{cid}-title {cid}-desc" focusable="false">',
        f'<title id="{cid}-title">{escape(title)}</title>',
        f'<desc id="{cid}-desc">{escape(desc)}</desc>',
    ]


def stacked_bars(
    *,
    chart_id: str,
    title: str,
    desc: str,
    categories: Sequence[str],
    series: Sequence[Series],
    fmt: Formatter = _plain,
    width: int = 640,
    height: int = 300,
) -> Markup:
    """Vertical bars, one per category, each stacked from the series in order (the first at the bottom).

    A y axis with 2–5 gridlines; the category labels below (every n-th one when there are many, so that they
    never overlap); each segment's hover title says "category — series: value".
    """
    for s in series:
        if len(s.values) != len(categories):
            raise ValueError(f"series {s.name!r} has {len(s.values)} values for {len(categories)} categories")
    totals = [sum(s.values[i] for s in series) for i in range(len(categories))]
    top, step = nice_ceiling(max(totals, default=0))
    left, right, upper, lower = 48, 8, 12, 40
    plot_w, plot_h = width - left - right, height - upper - lower
    out = _open(chart_id, title, desc, width, height, "chart-bars")
    out.append(f'<g {FONT} font-size="13" fill="{INK}">')
    for tick in range(0, top + 1, step):
        y = upper + plot_h - plot_h * tick / top
        out.append(
            f'<line x1="{left}" x2="{width - right}" y1="{_num(y)}" y2="{_num(y)}" stroke="{GRID}" stroke-width="1"/>'
        )
        out.append(f'<text x="{left - 6}" y="{_num(y + 4)}" text-anchor="end">{escape(fmt(tick))}</text>')
    count = len(categories)
    if count:
        slot = plot_w / count
        bar_w = min(48.0, slot * 0.7)
        every = max(1, math.ceil(count / max(1, int(plot_w // 56))))
        for i, category in enumerate(categories):
            x = left + slot * i + (slot - bar_w) / 2
            base = float(upper + plot_h)
            for s in series:
                value = s.values[i]
                if value <= 0:
                    continue
                h = plot_h * value / top
                base -= h
                tip = f"{category} — {s.name}: {fmt(value)}"
                out.append(
                    f'<rect x="{_num(x)}" y="{_num(base)}" width="{_num(bar_w)}" height="{_num(h)}"'
                    f' fill="{escape(s.colour)}" stroke="#fff" stroke-width="1"><title>{escape(tip)}</title></rect>'
                )
            if i % every == 0:
                cx = left + slot * i + slot / 2
                out.append(
                    f'<text x="{_num(cx)}" y="{height - lower + 18}" text-anchor="middle">{escape(category)}</text>'
                )
    out.append(
        f'<line x1="{left}" x2="{width - right}" y1="{upper + plot_h}" y2="{upper + plot_h}"'
        f' stroke="{INK}" stroke-width="1.5"/>'
    )
    out.append("</g></svg>")
    return Markup("".join(out))


def donut(
    *,
    chart_id: str,
    title: str,
    desc: str,
    slices: Sequence[Slice],
    centre: str,
    centre_sub: str = "",
    fmt: Formatter = _plain,
    size: int = 220,
) -> Markup:
    """A ring of shares (clockwise from the top, in order); `centre` (e.g. the on-time rate) written inside.

    Each share is one circle whose dash covers its part of a 100-long path (`pathLength`), so no arc is
    computed; an empty total draws the ring in grey.
    """
    total = sum(s.value for s in slices if s.value > 0)
    r, stroke = size / 2 - 22, 30
    c = size / 2
    out = _open(chart_id, title, desc, size, size, "chart-donut")
    out.append(
        f'<circle cx="{_num(c)}" cy="{_num(c)}" r="{_num(r)}" fill="none" stroke="{EMPTY}" stroke-width="{stroke}"/>'
    )
    start = 0.0
    if total > 0:
        for s in slices:
            if s.value <= 0:
                continue
            part = 100 * s.value / total
            tip = f"{s.name}: {fmt(s.value)}"
            # The dash starts at 3 o'clock: rotate by -90° to start at the top, then by where the share begins.
            out.append(
                f'<circle cx="{_num(c)}" cy="{_num(c)}" r="{_num(r)}" fill="none" stroke="{escape(s.colour)}"'
                f' stroke-width="{stroke}" pathLength="100" stroke-dasharray="{_num(part)} {_num(100 - part)}"'
                f' transform="rotate({_num(-90 + 3.6 * start)} {_num(c)} {_num(c)})">'
                f"<title>{escape(tip)}</title></circle>"
            )
            start += part
    out.append(f'<g {FONT} fill="{INK}" text-anchor="middle">')
    if centre_sub:
        out.append(f'<text x="{_num(c)}" y="{_num(c + 2)}" font-size="26" font-weight="700">{escape(centre)}</text>')
        out.append(f'<text x="{_num(c)}" y="{_num(c + 22)}" font-size="13">{escape(centre_sub)}</text>')
    else:
        out.append(f'<text x="{_num(c)}" y="{_num(c + 9)}" font-size="26" font-weight="700">{escape(centre)}</text>')
    out.append("</g></svg>")
    return Markup("".join(out))


def horizontal_bars(
    *,
    chart_id: str,
    title: str,
    desc: str,
    bars: Sequence[Bar],
    maximum: Number,
    colour: str = EARLY,
    width: int = 360,
    row: int = 46,
) -> Markup:
    """One bar per row on a fixed scale 0..`maximum` (e.g. the 1–5 scores), its label above it and its text
    after it; a bar without a value is drawn as an empty track. Narrow (360 wide) so that the labels stay
    readable on a phone."""
    if maximum <= 0:
        raise ValueError("maximum must be positive")
    height = row * len(bars) + 8
    track = width - 56
    out = _open(chart_id, title, desc, width, height, "chart-hbars")
    out.append(f'<g {FONT} font-size="13" fill="{INK}">')
    for i, bar in enumerate(bars):
        top = 4 + row * i
        out.append(f'<text x="0" y="{top + 13}">{escape(bar.label)}</text>')
        out.append(f'<rect x="0" y="{top + 20}" width="{track}" height="16" fill="{EMPTY}"/>')
        if bar.value is not None and bar.value > 0:
            w = track * min(bar.value, maximum) / maximum
            out.append(
                f'<rect x="0" y="{top + 20}" width="{_num(w)}" height="16" fill="{escape(colour)}">'
                f"<title>{escape(bar.label)}: {escape(bar.text)}</title></rect>"
            )
        out.append(f'<text x="{track + 6}" y="{top + 33}" font-weight="700">{escape(bar.text)}</text>')
    out.append("</g></svg>")
    return Markup("".join(out))


def swatch(colour: str) -> Markup:
    """A small square of a legend (an SVG, since the CSP allows no inline style); hidden from screen readers,
    which read the name written beside it."""
    return Markup(
        '<svg xmlns="http://www.w3.org/2000/svg" class="swatch" viewBox="0 0 10 10" aria-hidden="true"'
        ' focusable="false">'
        f'<rect width="10" height="10" fill="{escape(colour)}"/></svg>'
    )
