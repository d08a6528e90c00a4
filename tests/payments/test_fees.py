import pytest

from payments.fees import POSTAL_LINE_CODE, FeeLine, Reduction, compute_fees

LICENCE_FEE = {"name": {"vi": "Lệ phí cấp giấy phép lái xe", "en": "Driving licence fee"}, "amount": 135_000}
COPY_FEE = {"name": {"vi": "Phí chứng thực", "en": "Certification fee"}, "amount": 35_000}


def reduction(percent: int) -> Reduction:
    return Reduction(category="poor_household", name_vi="Hộ nghèo", name_en="Poor household", percent=percent)


def test_fee_items_without_post():
    bill = compute_fees(fee_items=[LICENCE_FEE, COPY_FEE], postal_fee=None, reduction=None)
    assert bill.lines == (
        FeeLine("fee-1", "Lệ phí cấp giấy phép lái xe", "Driving licence fee", 135_000),
        FeeLine("fee-2", "Phí chứng thực", "Certification fee", 35_000),
    )
    assert bill.reductions == ()
    assert bill.total == 170_000


def test_postal_fee_is_its_own_line():
    bill = compute_fees(fee_items=[LICENCE_FEE], postal_fee=30_000, reduction=None)
    postal = bill.lines[-1]
    assert postal.code == POSTAL_LINE_CODE
    assert postal.name_vi == "Cước chuyển phát kết quả qua bưu chính"
    assert postal.name_en == "Postal delivery of the result"
    assert postal.amount == 30_000
    assert bill.total == 165_000


def test_free_postal_delivery_still_shows():
    bill = compute_fees(fee_items=[], postal_fee=0, reduction=None)
    assert [line.code for line in bill.lines] == [POSTAL_LINE_CODE]
    assert bill.total == 0


def test_no_fees_at_all():
    bill = compute_fees(fee_items=[], postal_fee=None, reduction=None)
    assert bill.lines == ()
    assert bill.total == 0


def test_item_code_is_kept_when_given():
    bill = compute_fees(fee_items=[{**COPY_FEE, "code": "le-phi"}], postal_fee=None, reduction=None)
    assert bill.lines[0].code == "le-phi"


def test_exemption_leaves_only_the_postal_fee():
    exemption = reduction(100)
    bill = compute_fees(fee_items=[LICENCE_FEE, COPY_FEE], postal_fee=25_000, reduction=exemption)
    assert bill.reductions == ((exemption, 170_000),)
    assert bill.total == 25_000


def test_exemption_without_post_is_free():
    bill = compute_fees(fee_items=[COPY_FEE], postal_fee=None, reduction=reduction(100))
    assert bill.total == 0


def test_half_of_35000():
    half = reduction(50)
    bill = compute_fees(fee_items=[COPY_FEE], postal_fee=None, reduction=half)
    assert bill.reductions == ((half, 17_500),)
    assert bill.total == 17_500


def test_reduction_is_rounded_down_to_whole_dong():
    item = {**COPY_FEE, "amount": 35_001}
    bill = compute_fees(fee_items=[item], postal_fee=None, reduction=reduction(50))
    assert bill.reductions[0][1] == 17_500
    assert bill.total == 17_501
    bill = compute_fees(fee_items=[COPY_FEE], postal_fee=None, reduction=reduction(33))
    assert bill.reductions[0][1] == 11_550


def test_reduction_does_not_touch_the_postal_fee():
    bill = compute_fees(fee_items=[COPY_FEE], postal_fee=30_001, reduction=reduction(50))
    assert bill.reductions[0][1] == 17_500
    assert bill.total == 17_500 + 30_001


def test_zero_percent_reduction_is_recorded():
    nothing = reduction(0)
    bill = compute_fees(fee_items=[COPY_FEE], postal_fee=None, reduction=nothing)
    assert bill.reductions == ((nothing, 0),)
    assert bill.total == 35_000


@pytest.mark.parametrize("amount", [-1, 1.5, 35_000.0, True, "35000", None])
def test_bad_fee_amounts(amount):
    with pytest.raises(ValueError):
        compute_fees(fee_items=[{**COPY_FEE, "amount": amount}], postal_fee=None, reduction=None)


@pytest.mark.parametrize("postal_fee", [-1, 1.5, 30_000.0, True, False, "30000"])
def test_bad_postal_fees(postal_fee):
    with pytest.raises(ValueError):
        compute_fees(fee_items=[COPY_FEE], postal_fee=postal_fee, reduction=None)


@pytest.mark.parametrize(
    "item",
    [
        {"amount": 1000},
        {"name": "Phí", "amount": 1000},
        {"name": {"vi": "Phí"}, "amount": 1000},
        {"name": {"vi": "Phí", "en": ""}, "amount": 1000},
        {"name": {"vi": "Phí", "en": "Fee"}, "amount": 1000, "code": 7},
        ("Phí", 1000),
    ],
)
def test_bad_fee_items(item):
    with pytest.raises(ValueError):
        compute_fees(fee_items=[item], postal_fee=None, reduction=None)


@pytest.mark.parametrize("percent", [-1, 101, 50.0, True])
def test_bad_reductions(percent):
    with pytest.raises(ValueError):
        reduction(percent)


@pytest.mark.parametrize("amount", [-1, 1.5, False])
def test_bad_fee_lines(amount):
    with pytest.raises(ValueError):
        FeeLine("fee-1", "Phí", "Fee", amount)
