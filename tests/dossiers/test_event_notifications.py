"""Every dossier event tells the applicant, from the template file of its kind (portal/notifications/templates/):
the events are driven through the real use cases (lifecycle, counter, postal operator, payments), and each
notification they write is checked to carry exactly the parameters its template declares and to render in
Vietnamese and English, as an SMS and as a Zalo template message."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session

from payments.events import PaymentRefunded, PaymentRefundFailed, PaymentSucceeded
from payments.models import Refund, RefundStatus
from portal.dossiers import deadline, lifecycle, service
from portal.dossiers.lifecycle import SupplementItem
from portal.dossiers.models import Dossier, DossierStatus
from portal.kernel.clock import utcnow
from portal.kernel.events import publish
from portal.kernel.settings import Settings
from portal.kernel.storage import LocalStorage
from portal.notifications import templates
from portal.notifications.models import Notification
from postal.events import ParcelEvent
from postal.models import ParcelKind, ParcelStatus
from signing.pki import DevPKI, Issued
from signing.verify_service import TrustSetup
from tests import factories
from tests import lifecycle_factories as lf
from tests.dossiers.test_intake import person, register
from tests.dossiers.test_parcels import Operator, claimed_delivery, licence_dossier, order_of, submit

pytestmark = pytest.mark.db

storage, pki, trust = lf.storage, lf.pki, lf.trust
LINK = "https://dichvucong.ninhbinh.gov.vn/dossiers/0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def agency_cert(pki: DevPKI) -> Issued:
    return pki.issue_agency("Công an tỉnh Ninh Bình", "CAT")


def rendered(note: Notification) -> Notification:
    """`note` comes from its template, carries exactly the parameters the template declares, and renders
    completely in both languages, as an SMS (with its link) and as a Zalo template message."""
    assert note.subject == "" and note.body == "" and note.texts is None, note.kind  # the template file's texts
    assert templates.has_template(note.kind), note.kind
    template = templates.load()[note.kind]
    variant = note.params.get(template.variant_by, "") if template.variant_by else ""
    given = set(templates.localised(note.params, "vi"))
    assert given == templates.params_of(note.kind, variant), note.kind
    assert templates.localised(note.params, "en").keys() == given
    for locale in templates.LOCALES:
        texts = templates.texts(note.kind, note.params, locale)
        assert texts.subject and texts.body and "{" not in texts.subject + texts.body
        assert (note.subject_in(locale), note.body_in(locale)) == (texts.subject, texts.body)
        if "code" in given:
            assert note.params["code"] and note.params["code"] in texts.subject
        sms = templates.sms_text(note.kind, {**note.params, templates.LINK: LINK}, locale)
        assert sms.endswith(LINK) and "{" not in sms
    zalo = templates.zalo_template(note.kind, note.params)
    assert zalo.template_id and zalo.data and all(isinstance(v, str) and v for v in zalo.data.values()), note.kind
    return note


def told(session: Session, dossier: Dossier) -> dict[str, list[Notification]]:
    """The dossier's notifications by kind, each checked by `rendered`."""
    notes: dict[str, list[Notification]] = {}
    for note in lf.notifications(session, dossier):
        notes.setdefault(note.kind, []).append(rendered(note))
    return notes


# -- the agency's steps


def test_each_step_at_the_agency_tells_the_applicant(session: Session) -> None:
    dossier = factories.dossier(session, submitted=True, files=("to_khai",))
    lifecycle.receive(session=session, dossier=dossier, officer=lf.OFFICER, by=lf.BACKOFFICE)
    lifecycle.start_processing(session=session, dossier=dossier, by=lf.BACKOFFICE)
    lifecycle.set_sub_status(
        session=session,
        dossier=dossier,
        code="tham_dinh",
        text_vi="Thẩm định hồ sơ",
        text_en="Reviewing the dossier",
        by=lf.BACKOFFICE,
    )
    lifecycle.request_supplement(
        session=session,
        dossier=dossier,
        items=[SupplementItem(kind="field", target="phone", reason="Số điện thoại không liên lạc được")],
        message="Xin cho số điện thoại liên lạc được.",
        by=lf.BACKOFFICE,
    )
    notes = told(session, dossier)
    assert list(notes) == ["dossier.received", "dossier.processing", "dossier.sub_status", "dossier.supplement"]
    step = notes["dossier.sub_status"][0]
    assert "Thẩm định hồ sơ" in step.body_in("vi") and "Reviewing the dossier" in step.body_in("en")
    assert "Reviewing" not in templates.zalo_template(step.kind, step.params).data["trang_thai"]  # ZNS: Vietnamese
    supplement = notes["dossier.supplement"][0]
    assert "Xin cho số điện thoại liên lạc được." in supplement.body_in("en")  # the agency's own words, as written


def test_a_late_dossier_tells_overdue_then_the_apology_with_the_new_date(session: Session) -> None:
    dossier = lf.received(session, official_due_date=lf.local_day_offset(-2), due_date=lf.local_day_offset(-2))
    assert deadline.mark_overdue_one(session, dossier, now=utcnow())
    new_date = lf.local_day_offset(5)
    lifecycle.apologise(
        session=session, dossier=dossier, reason="Chờ ý kiến của Sở Tư pháp.", new_date=new_date, by=lf.BACKOFFICE
    )
    notes = told(session, dossier)
    assert list(notes) == ["dossier.overdue", "dossier.apology"]
    apology = notes["dossier.apology"][0]
    assert new_date.strftime("%d/%m/%Y") in apology.body_in("vi") and "Sở Tư pháp" in apology.body_in("en")
    assert apology.subject_in("vi") == f"Hồ sơ {dossier.code} bị chậm: cơ quan xin lỗi"


def test_a_rejection_tells_the_reason(session: Session) -> None:
    dossier = lf.received(session)
    service.reject(session=session, dossier=dossier, reason="Không thuộc thẩm quyền giải quyết.", by=lf.BACKOFFICE)
    [note] = told(session, dossier)["dossier.rejected"]
    assert (
        note.body_in("en")
        == f"The agency rejected your dossier {dossier.code}. Reason: Không thuộc thẩm quyền giải quyết."
    )


def test_a_dossier_registered_at_the_counter_tells_its_code_and_date(
    session: Session, settings: Settings, storage: LocalStorage
) -> None:
    dossier = register(session, storage, settings, applicant=person("001190077777"))
    [note] = told(session, dossier)["dossier.registered"]
    assert dossier.due_date is not None and dossier.due_date.strftime("%d/%m/%Y") in note.body_in("vi")


# -- online submission and the postal service


def test_submitting_online_and_the_pickup_of_the_originals(
    session: Session, settings: Settings, storage: LocalStorage
) -> None:
    dossier = licence_dossier(session)
    submit(session, settings, dossier)
    order = order_of(session, dossier, ParcelKind.PICKUP)
    op = Operator(session, settings, storage, order)
    op.claim()
    op.report(ParcelStatus.PICKED_UP)
    op.report(ParcelStatus.DELIVERED, proof=True)
    notes = told(session, dossier)
    assert list(notes) == ["dossier.submitted", "postal.pickup_ordered", "postal.picked_up", "postal.delivered"]
    assert order.number in notes["postal.pickup_ordered"][0].body_in("vi")
    assert notes["postal.picked_up"][0].params["parcel"] == "pickup"
    assert (
        notes["postal.delivered"][0].subject_in("en") == f"Dossier {dossier.code}: your originals arrived at the agency"
    )


def test_a_pickup_that_fails_tells_each_attempt_and_the_return(
    session: Session, settings: Settings, storage: LocalStorage
) -> None:
    dossier = licence_dossier(session)
    submit(session, settings, dossier)
    op = Operator(session, settings, storage, order_of(session, dossier, ParcelKind.PICKUP))
    op.claim()
    for _ in range(settings.postal_max_attempts):
        op.report(ParcelStatus.DELIVERY_ATTEMPTED, reason="Không liên lạc được người gửi")
    notes = told(session, dossier)
    assert len(notes["postal.delivery_attempted"]) == settings.postal_max_attempts
    assert "Không liên lạc được người gửi" in notes["postal.delivery_attempted"][0].body_in("vi")
    [returned] = notes["postal.returned"]
    assert returned.params["parcel"] == "pickup" and "Bring them to the centre" in returned.body_in("en")


def test_the_result_by_post_tells_each_step_then_the_completion(
    session: Session, settings: Settings, storage: LocalStorage, trust: TrustSetup, agency_cert: Issued
) -> None:
    dossier, _order, op = claimed_delivery(session, settings, storage, trust, agency_cert)
    op.report(ParcelStatus.PICKED_UP)
    op.report(ParcelStatus.DELIVERY_ATTEMPTED, reason="Người nhận vắng nhà")
    op.report(ParcelStatus.DELIVERED, proof=True, cod_collected=dossier_cod(session, dossier))
    notes = told(session, dossier)
    assert {
        "dossier.submitted",
        "dossier.received",
        "dossier.result",
        "postal.picked_up",
        "postal.delivery_attempted",
        "postal.delivered",
        "dossier.completed",
        "payment.succeeded",
    } <= set(notes)
    assert all(n.params["parcel"] == "delivery" for k, v in notes.items() if k.startswith("postal.") for n in v)
    delivered = notes["postal.delivered"][0]
    assert "Nguyễn Thị Lan" in delivered.body_in("vi")  # who signed for it


def dossier_cod(session: Session, dossier: Dossier) -> int:
    order = order_of(session, dossier, ParcelKind.DELIVERY)
    return order.cod_amount


def test_a_result_returned_to_the_agency_tells_where_it_waits(session: Session) -> None:
    dossier = lf.received(session, status=DossierStatus.RESULT_READY)
    publish(
        session,
        ParcelEvent(
            order_id="0" * 32,
            number="BP000123",
            kind=ParcelKind.DELIVERY,
            operator="vnpost",
            owner_kind="dossier",
            owner_id=dossier.id,
            reference=dossier.code or "",
            tracking_number="EB123456789VN",
            status=ParcelStatus.RETURNED,
            previous_status=ParcelStatus.DELIVERY_ATTEMPTED,
            changed=True,
            occurred_at=utcnow(),
            event_id="return-1",
        ),
    )
    [returned] = told(session, dossier)["postal.returned"]
    assert "EB123456789VN" in returned.body_in("vi") and "collect it at the counter" in returned.body_in("en")


# -- payments


def test_a_payment_its_refund_and_a_refused_refund_tell_the_amounts(session: Session) -> None:
    dossier = lf.received(session)
    payment = factories.payment(session, dossier=dossier, amount=1_250_000)
    publish(session, PaymentSucceeded(payment=payment))
    refund = Refund(payment_id=payment.id, amount=250_000, reason="agency", status=RefundStatus.SUCCEEDED)
    refused = Refund(payment_id=payment.id, amount=1_000_000, reason="rejected", status=RefundStatus.FAILED)
    session.add_all([refund, refused])
    session.flush()
    publish(session, PaymentRefunded(refund=refund, payment=payment))
    publish(session, PaymentRefundFailed(refund=refused, payment=payment))
    publish(session, PaymentRefundFailed(refund=refused, payment=payment))  # the same failure again: told once
    notes = told(session, dossier)
    assert [len(notes[k]) for k in ("payment.succeeded", "payment.refunded", "payment.refund_failed")] == [1, 1, 1]
    assert notes["payment.succeeded"][0].subject_in("vi") == "Đã thanh toán 1.250.000 đồng"
    assert notes["payment.refunded"][0].subject_in("en") == "250.000\u00a0VND refunded"
    failed = notes["payment.refund_failed"][0]
    assert payment.reference in failed.body_in("vi") and "1.000.000" in failed.subject_in("en")
    zalo = templates.zalo_template(failed.kind, failed.params)
    assert zalo.data == {"so_tien": "1.000.000", "ma_giao_dich": payment.reference}


def test_an_old_row_written_with_message_ids_still_renders_as_before(session: Session) -> None:
    """Rows from before the template files keep their gettext message ids and are shown as they were."""
    dossier = lf.received(session)
    note = Notification(
        account_id=dossier.applicant_id,
        kind="dossier.received",
        dedupe_key=f"old:{dossier.id}",
        subject="Dossier {code} received",
        body="The agency received your dossier {code}. The result is due on {due}.",
        params={"code": "X-1", "due": "01/02/2026"},
        link=f"/dossiers/{dossier.id}",
    )
    session.add(note)
    session.flush()
    assert note.subject_in("vi") == "Hồ sơ X-1 đã được tiếp nhận"
    assert note.body_in("en") == "The agency received your dossier X-1. The result is due on 01/02/2026."


def test_delivery_time_in_a_template_is_the_local_time(session: Session) -> None:
    """The `time` of a postal step is Vietnam's time, as the applicant reads it."""
    dossier = lf.received(session, status=DossierStatus.RESULT_READY)
    at = utcnow().replace(hour=1, minute=30, second=0, microsecond=0) + timedelta(days=0)
    publish(
        session,
        ParcelEvent(
            order_id="1" * 32,
            number="BP000124",
            kind=ParcelKind.DELIVERY,
            operator="vnpost",
            owner_kind="dossier",
            owner_id=dossier.id,
            reference=dossier.code or "",
            tracking_number="EB000000001VN",
            status=ParcelStatus.PICKED_UP,
            previous_status=ParcelStatus.CLAIMED,
            changed=True,
            occurred_at=at,
            event_id="picked-1",
        ),
    )
    [note] = told(session, dossier)["postal.picked_up"]
    assert note.params["time"].startswith("08:30 ")  # 01:30 UTC is 08:30 in Hà Nội
