"""Code 128 (ISO/IEC 15417) for the tracking numbers on shipping labels: code set B for text, code set C for runs
of digits, the modulo-103 check symbol, and the symbol drawn on an fpdf2 page as filled rectangles.

A UPU S10 number ("RD123456785VN") comes out as Start B, "R", "D", "1", Code C, "23" "45" "67" "85", Code B,
"V", "N": the fewest symbols, so the widest modules fit on the label.
"""

from __future__ import annotations

from dataclasses import dataclass

from fpdf import FPDF

__all__ = [
    "CODE_B",
    "CODE_C",
    "QUIET_ZONE_MODULES",
    "START_B",
    "START_C",
    "STOP",
    "Code128",
    "check_symbol",
    "draw_code128",
    "encode_code128",
]

# Bar and space widths (in modules, bar first) of the symbols by value: 0-102 data and code switches,
# 103-105 the start symbols, 106 the stop symbol with its final bar (13 modules).
_PATTERNS: tuple[str, ...] = (
    "212222", "222122", "222221", "121223", "121322", "131222", "122213", "122312", "132212", "221213",
    "221312", "231212", "112232", "122132", "122231", "113222", "123122", "123221", "223211", "221132",
    "221231", "213212", "223112", "312131", "311222", "321122", "321221", "312212", "322112", "322211",
    "212123", "212321", "232121", "111323", "131123", "131321", "112313", "132113", "132311", "211313",
    "231113", "231311", "112133", "112331", "132131", "113123", "113321", "133121", "313121", "211331",
    "231131", "213113", "213311", "213131", "311123", "311321", "331121", "312113", "312311", "332111",
    "314111", "221411", "431111", "111224", "111422", "121124", "121421", "141122", "141221", "112214",
    "112412", "122114", "122411", "142112", "142211", "241211", "221114", "413111", "241112", "134111",
    "111242", "121142", "121241", "114212", "124112", "124211", "411212", "421112", "421211", "212141",
    "214121", "412121", "111143", "111341", "131141", "114113", "114311", "411113", "411311", "113141",
    "114131", "311141", "411131", "211412", "211214", "211232", "2331112",
)  # fmt: skip

CODE_C = 99  # in code set B: switch to C
CODE_B = 100  # in code set C: switch to B
START_B = 104
START_C = 105
STOP = 106
QUIET_ZONE_MODULES = 10  # the least clear space ISO/IEC 15417 asks for on each side

_B, _C = "B", "C"


@dataclass(frozen=True)
class Code128:
    """An encoded symbol: its symbol values (start … check, stop) and the bar/space widths in modules."""

    text: str
    values: tuple[int, ...]
    widths: tuple[int, ...]  # bar, space, bar, … (starts and ends with a bar), quiet zones excluded

    @property
    def modules(self) -> int:
        """The width of the symbol in modules, quiet zones excluded."""
        return sum(self.widths)


def check_symbol(values: list[int] | tuple[int, ...]) -> int:
    """The modulo-103 check value of a start symbol followed by data symbols (each weighted by its position)."""
    if not values:
        raise ValueError("a Code 128 symbol starts with a start symbol")
    return (values[0] + sum(position * value for position, value in enumerate(values[1:], start=1))) % 103


def _plan(text: str) -> list[tuple[str, str]]:
    """The shortest sequence of (code set, chunk): each chunk one character in B or two digits in C.

    Dynamic programming over the position and the current set (a switch costs one symbol); a tie keeps the
    current set, and starts in B.
    """
    n = len(text)
    inf = n * 3 + 10
    # cost[i][s]: symbols needed to encode text[i:] being in set s at position i.
    cost = [{_B: inf, _C: inf} for _ in range(n + 1)]
    cost[n] = {_B: 0, _C: 0}
    for i in range(n - 1, -1, -1):
        stay_b = 1 + cost[i + 1][_B]
        pair = i + 1 < n and text[i].isdigit() and text[i + 1].isdigit()
        stay_c = 1 + cost[i + 2][_C] if pair else inf
        cost[i][_B] = min(stay_b, 1 + stay_c)
        cost[i][_C] = min(stay_c, 1 + stay_b)
    plan: list[tuple[str, str]] = []
    i = 0
    current = _B if cost[0][_B] <= cost[0][_C] else _C
    while i < n:
        pair = i + 1 < n and text[i].isdigit() and text[i + 1].isdigit()
        # Symbols to the end when the next chunk is written in each set (a switch adds one).
        rest = {_B: 1 + cost[i + 1][_B], _C: 1 + cost[i + 2][_C] if pair else inf}
        other = _C if current == _B else _B
        use = current if rest[current] <= 1 + rest[other] else other
        if use == _B:
            plan.append((_B, text[i]))
            i += 1
        else:
            plan.append((_C, text[i : i + 2]))
            i += 2
        current = use
    return plan


def encode_code128(text: str) -> Code128:
    """Encode printable ASCII (space to "~") as Code 128; ValueError for anything else or for empty text."""
    if not text:
        raise ValueError("nothing to encode")
    bad = [ch for ch in text if not " " <= ch <= "~"]
    if bad:
        raise ValueError(f"Code 128 set B/C cannot encode {bad[0]!r}")
    plan = _plan(text)
    current = plan[0][0]
    values = [START_B if current == _B else START_C]
    for code_set, chunk in plan:
        if code_set != current:
            values.append(CODE_C if code_set == _C else CODE_B)
            current = code_set
        values.append(int(chunk) if code_set == _C else ord(chunk) - 32)
    values.append(check_symbol(values))
    values.append(STOP)
    widths = tuple(int(w) for value in values for w in _PATTERNS[value])
    return Code128(text=text, values=tuple(values), widths=widths)


def draw_code128(
    pdf: FPDF, code: Code128, *, x: float, y: float, width: float, height: float, max_module: float = 0.5
) -> tuple[float, float]:
    """Draw ``code`` centred in the box (x, y, width, height) with white quiet zones of at least 10 modules.

    The module is as wide as the box allows, up to ``max_module`` mm. Returns (x of the first bar, module width).
    """
    total = code.modules + 2 * QUIET_ZONE_MODULES
    module = min(max_module, width / total)
    left = x + (width - code.modules * module) / 2
    pdf.set_fill_color(255, 255, 255)
    pdf.rect(left - QUIET_ZONE_MODULES * module, y, (code.modules + 2 * QUIET_ZONE_MODULES) * module, height, "F")
    pdf.set_fill_color(0, 0, 0)
    position = left
    for index, units in enumerate(code.widths):
        if index % 2 == 0:  # a bar
            pdf.rect(position, y, units * module, height, "F")
        position += units * module
    return left, module
