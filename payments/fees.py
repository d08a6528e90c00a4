"""What a citizen owes for a procedure: fee lines, an optional reduction and the total, in whole đồng."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

LANGUAGES = ("vi", "en")
POSTAL_LINE_CODE = "postal"
POSTAL_NAME_VI = "Cước chuyển phát kết quả qua bưu chính"
POSTAL_NAME_EN = "Postal delivery of the result"


def _check_amount(amount: object, what: str) -> int:
    """Return amount if it is a whole, non-negative number of đồng (bools and floats are refused)."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise ValueError(f"{what} must be a whole number of đồng, not {amount!r}")
    if amount < 0:
        raise ValueError(f"{what} cannot be negative: {amount}")
    return amount


@dataclass(frozen=True)
class FeeLine:
    """One charge on the bill: a fee or charge of the procedure, or the postal delivery."""

    code: str
    name_vi: str
    name_en: str
    amount: int

    def __post_init__(self) -> None:
        _check_amount(self.amount, f"fee {self.code!r}")


@dataclass(frozen=True)
class Reduction:
    """A reduction or exemption (miễn, giảm) for a category of applicant; 100 percent exempts."""

    category: str
    name_vi: str
    name_en: str
    percent: int

    def __post_init__(self) -> None:
        if isinstance(self.percent, bool) or not isinstance(self.percent, int) or not 0 <= self.percent <= 100:
            raise ValueError(f"a reduction is a whole percentage from 0 to 100, not {self.percent!r}")


@dataclass(frozen=True)
class FeeBreakdown:
    """The bill: its lines, each reduction with the đồng it takes off, and what is left to pay."""

    lines: tuple[FeeLine, ...]
    reductions: tuple[tuple[Reduction, int], ...]
    total: int


def compute_fees(
    *,
    fee_items: Sequence[Mapping[str, Any]],
    postal_fee: int | None,
    reduction: Reduction | None,
) -> FeeBreakdown:
    """Build the bill from a procedure's fee items ({"name": {"vi", "en"}, "amount"}) and the postal fee.

    A reduction takes its percentage of the sum of the procedure's fee items, rounded down to
    whole đồng; the postal fee is a carrier's charge, not a state fee, so no reduction touches it.
    Raises ValueError for a malformed fee item or an amount that is not a whole number of đồng.
    """
    lines = [_fee_line(position, item) for position, item in enumerate(fee_items, start=1)]
    procedure_fees = sum(line.amount for line in lines)
    reductions: tuple[tuple[Reduction, int], ...] = ()
    if reduction is not None:
        reductions = ((reduction, procedure_fees * reduction.percent // 100),)
    if postal_fee is not None:
        lines.append(FeeLine(POSTAL_LINE_CODE, POSTAL_NAME_VI, POSTAL_NAME_EN, _check_amount(postal_fee, "postal fee")))
    total = sum(line.amount for line in lines) - sum(amount for _, amount in reductions)
    return FeeBreakdown(lines=tuple(lines), reductions=reductions, total=max(total, 0))


def _fee_line(position: int, item: Mapping[str, Any]) -> FeeLine:
    """A fee item of the catalogue as a line; items carry no code, so one is made from the position."""
    if not isinstance(item, Mapping):
        raise ValueError(f"fee item {position} must be a mapping, not {item!r}")
    name = item.get("name")
    if not isinstance(name, Mapping) or not all(isinstance(name.get(lang), str) and name[lang] for lang in LANGUAGES):
        raise ValueError(f"fee item {position} needs a name in Vietnamese and English")
    code = item.get("code") or f"fee-{position}"
    if not isinstance(code, str):
        raise ValueError(f"fee item {position} has a code that is not text: {code!r}")
    amount = _check_amount(item.get("amount"), f"fee item {position}")
    return FeeLine(code, name["vi"], name["en"], amount)
