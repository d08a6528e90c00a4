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
    """One charge on the bill: a fee or charge of the procedure, or the postal delivery.

    A linked application's bill collects for several agencies: each of its lines names the agency that
    collects it (`agency_code`) and the member procedure it is for (`member`). None: the payment's agency.
    """

    code: str
    name_vi: str
    name_en: str
    amount: int
    agency_code: str | None = None
    member: str | None = None
    # A fee charged per unit of an answer (per copy requested): the count and the price of one unit.
    quantity: int | None = None
    unit_amount: int | None = None
    # A member's reduction already applied to the line (a linked entry's `reduction`): the category, its
    # percent and the amount before it. The line's amount is what is charged; nothing else is taken off.
    reduction_category: str | None = None
    reduction_percent: int | None = None
    amount_before_reduction: int | None = None

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
    answers: Mapping[str, Any] | None = None,
) -> FeeBreakdown:
    """Build the bill from a procedure's fee items ({"name": {"vi", "en"}, "amount"}) and the postal fee.

    A linked entry's items also carry "agency" (the member's agency code) and "member" (its procedure code):
    the lines keep them, so the payment records which agency collects each line.

    An item with "per": <field> charges its amount once per unit of that answer in `answers` (a whole number;
    none, empty, hidden or not a whole number: 0 units, and then the item is left off the bill); its line
    says the count ("× 2"). An item with "reduction" ({category, name, percent, amount}) already carries the
    reduced amount (a linked entry's member reduction): its line records the reduction, which is not taken
    off again.

    A reduction takes its percentage of the sum of the procedure's fee items, rounded down to
    whole đồng; the postal fee is a carrier's charge, not a state fee, so no reduction touches it.
    Raises ValueError for a malformed fee item or an amount that is not a whole number of đồng.
    """
    lines = [
        line
        for position, item in enumerate(fee_items, start=1)
        if (line := _fee_line(position, item, answers or {})) is not None
    ]
    procedure_fees = sum(line.amount for line in lines)
    reductions: tuple[tuple[Reduction, int], ...] = ()
    if reduction is not None:
        reductions = ((reduction, procedure_fees * reduction.percent // 100),)
    if postal_fee is not None:
        lines.append(FeeLine(POSTAL_LINE_CODE, POSTAL_NAME_VI, POSTAL_NAME_EN, _check_amount(postal_fee, "postal fee")))
    total = sum(line.amount for line in lines) - sum(amount for _, amount in reductions)
    return FeeBreakdown(lines=tuple(lines), reductions=reductions, total=max(total, 0))


def units(value: Any) -> int:
    """How many units an answer asks for: a whole number of at least 0 (anything else counts as none)."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    return value if isinstance(value, int) and value > 0 else 0


def _fee_line(position: int, item: Mapping[str, Any], answers: Mapping[str, Any]) -> FeeLine | None:
    """A fee item of the catalogue as a line (None: a per-unit item with no unit asked); items carry no code,
    so one is made from the position."""
    if not isinstance(item, Mapping):
        raise ValueError(f"fee item {position} must be a mapping, not {item!r}")
    name = item.get("name")
    if not isinstance(name, Mapping) or not all(isinstance(name.get(lang), str) and name[lang] for lang in LANGUAGES):
        raise ValueError(f"fee item {position} needs a name in Vietnamese and English")
    code = item.get("code") or f"fee-{position}"
    if not isinstance(code, str):
        raise ValueError(f"fee item {position} has a code that is not text: {code!r}")
    amount = _check_amount(item.get("amount"), f"fee item {position}")
    agency, member = item.get("agency"), item.get("member")
    for key, value in (("agency", agency), ("member", member)):
        if value is not None and (not isinstance(value, str) or not value):
            raise ValueError(f"fee item {position} has an {key} that is not a code: {value!r}")
    extra: dict[str, Any] = {}
    name_vi, name_en = name["vi"], name["en"]
    per = item.get("per")
    if per is not None:
        if not isinstance(per, str) or not per:
            raise ValueError(f"fee item {position} has a per that is not a field name: {per!r}")
        count = units(answers.get(per))
        if not count:
            return None
        extra = {"quantity": count, "unit_amount": amount}
        amount, name_vi, name_en = amount * count, f"{name_vi} × {count}", f"{name_en} × {count}"
    cut = item.get("reduction")
    if cut is not None:
        if not isinstance(cut, Mapping) or not isinstance(cut.get("category"), str):
            raise ValueError(f"fee item {position} has a reduction that is not {{category, percent, amount}}")
        before = _check_amount(cut.get("amount"), f"fee item {position}'s amount before its reduction")
        percent = cut.get("percent")
        if isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= 100:
            raise ValueError(f"fee item {position}'s reduction is a whole percentage from 0 to 100, not {percent!r}")
        extra.update(
            reduction_category=str(cut["category"]),
            reduction_percent=percent,
            amount_before_reduction=before * extra.get("quantity", 1),
        )
    return FeeLine(code, name_vi, name_en, amount, agency_code=agency, member=member, **extra)


# -- the lines as a payment stores them (Payment.lines: JSON)

# What a stored line carries besides its code, names, amount, agency and member, when the line has it.
_LINE_EXTRAS = (
    "quantity",
    "unit_amount",
    "reduction_category",
    "reduction_percent",
    "amount_before_reduction",
)


def line_record(line: FeeLine) -> dict[str, Any]:
    """A bill line as stored on a payment: agency and member only when the line has them (old rows had none)."""
    record: dict[str, Any] = {
        "code": line.code,
        "name_vi": line.name_vi,
        "name_en": line.name_en,
        "amount": line.amount,
    }
    if line.agency_code is not None:
        record["agency_code"] = line.agency_code
    if line.member is not None:
        record["member"] = line.member
    for key in _LINE_EXTRAS:
        value = getattr(line, key)
        if value is not None:
            record[key] = value
    return record


def line_from_record(record: Mapping[str, Any]) -> FeeLine:
    """A stored line read back; rows written before lines carried agencies read as the payment's agency (None)."""
    return FeeLine(
        code=str(record.get("code") or ""),
        name_vi=str(record.get("name_vi") or ""),
        name_en=str(record.get("name_en") or ""),
        amount=int(record.get("amount") or 0),
        agency_code=record.get("agency_code") or None,
        member=record.get("member") or None,
        **{key: record[key] for key in _LINE_EXTRAS if record.get(key) is not None},
    )


def agency_shares(lines: Sequence[Mapping[str, Any]], *, amount: int, agency_code: str) -> dict[str, int]:
    """What each agency collects of a payment of `amount` with these stored lines, in the order lines name them.

    A line collects for its own agency, else for the payment's (`agency_code`). What the lines do not add up
    to (a reduction, which only single-agency bills have) is the payment's agency's, so the shares always
    add up to the amount the gateway took. Agencies whose share is 0 are left out, except the payment's own
    when nothing else collects anything.
    """
    shares: dict[str, int] = {}
    for record in lines:
        agency = record.get("agency_code") or agency_code
        shares[agency] = shares.get(agency, 0) + int(record.get("amount") or 0)
    rest = amount - sum(shares.values())
    if rest:
        shares[agency_code] = shares.get(agency_code, 0) + rest
    kept = {agency: share for agency, share in shares.items() if share}
    return kept or {agency_code: amount}
