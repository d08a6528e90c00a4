"""A linked entry written straight into the catalogue table (as the loader stores one) and its application.

Members are single procedures of the shipped catalogue, each with its own agency, deadline and fee:

- A 1.001193 đăng ký khai sinh (UBXA, 1 working day, free but for the copies asked: 8 000 đ each);
- B 3.000333 lý lịch tư pháp (CAT, 10 days, 200 000 đ, refundable): waits for A's result, which fills its
  `giay_to_tuy_than`; its `to_khai` is the shared `to_khai_lltp`;
- C 1.004873 xác nhận tình trạng hôn nhân (UBXA, 3 days, 15 000 đ, refundable): optional, depends on nothing;
- D 1.014199 giấy phép lao động (SNV, 10 days, 600 000 đ, refundable): waits for B (no component from it).
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlmodel import Session

from auth.models import Account
from payments.fees import line_record
from payments.models import Payment
from portal.catalog.linked import MEMBERS_FIELD
from portal.catalog.models import Procedure
from portal.dossiers import billing, service
from portal.dossiers.models import Dossier, DossierStatus
from portal.kernel.settings import Settings
from tests import factories

A, B, C, D = "1.001193", "3.000333", "1.004873", "1.014199"
MEMBERS = (A, B, C, D)


def _component(cid: str, members: list[str], **over: Any) -> dict[str, Any]:
    return {
        "id": cid,
        "name": {"vi": f"Giấy tờ {cid}", "en": f"Document {cid}"},
        "accepts": ["pdf"],
        "mandatory": False,
        "members": members,
        **over,
    }


def linked_procedure(session: Session, *, b_refundable: bool = True, **over: Any) -> Procedure:
    """A linked entry over A, B, C, D as the loader stores it (composed components and fees with agencies)."""
    marital = session.get(Procedure, C)
    assert marital is not None
    fees = []
    for code in MEMBERS:
        member = session.get(Procedure, code)
        assert member is not None, code
        if code == B and not b_refundable:
            member.refundable = False
            session.add(member)
        fees += [{**item, "agency": member.agency_code, "member": code} for item in member.fees if item["amount"]]
    suffix = secrets.token_hex(4)
    values: dict[str, Any] = {
        "code": f"LT.{suffix}",
        "slug": f"lien-thong-thu-{suffix}",
        "agency_code": "UBXA",
        "name_vi": "Liên thông thử nghiệm",
        "name_en": "Test linked procedure",
        # Committed into the shared test database: a field of its own, so the catalogue's pages and filters that
        # other tests check never list these rows.
        "field_vi": "Thủ tục kiểm thử",
        "field_en": "Test procedure",
        "level": "full",
        "deadline_days": 21,
        "fees": fees,
        "components": [
            _component("to_khai", [A, C], mandatory=True),
            _component("to_khai_lltp", [B]),
            _component("giay_to_cu_tru", [B]),
            _component("van_ban_uy_quyen", [A, B]),
        ],
        "delivery": ["centre"],
        # The composed form is the marital-status form here (the loader composes one): its answers validate.
        "form_id": marital.form_id,
        "form_version": marital.form_version,
        "payment_timing": "after",
        "refundable": False,
        "kind": "linked",
        "members": [
            {"procedure": A, "depends_on": [], "from_result": {}, "optional": None, "fields": {}, "components": {}},
            {
                "procedure": B,
                "depends_on": [A],
                "from_result": {"giay_to_tuy_than": A},
                "optional": None,
                "fields": {},
                "components": {"to_khai": "to_khai_lltp"},
            },
            {
                "procedure": C,
                "depends_on": [],
                "from_result": {},
                "optional": {"vi": "Xác nhận tình trạng hôn nhân", "en": "Certificate of marital status"},
                "fields": {},
                "components": {},
            },
            {"procedure": D, "depends_on": [B], "from_result": {}, "optional": None, "fields": {}, "components": {}},
        ],
    }
    values.update(over)
    row = Procedure(**values)
    session.add(row)
    session.flush()
    return row


def draft(session: Session, linked: Procedure, *, with_c: bool = True, applicant: Account | None = None) -> Dossier:
    """The citizen's draft on the linked entry, complete: answers, the files, centre delivery."""
    account = applicant or factories.account(session)
    parent = service.create_draft(session=session, procedure=linked, by=account)
    parent.data = {**factories.marital_answers(), MEMBERS_FIELD: [C] if with_c else []}
    parent.delivery_method = "centre"
    session.add(parent)
    session.flush()
    for component_id in ("to_khai", "to_khai_lltp", "giay_to_cu_tru", "van_ban_uy_quyen"):
        factories.dossier_file(session, parent, component_id=component_id, filename=f"{component_id}.pdf")
    return parent


def submit(session: Session, settings: Settings, linked: Procedure, parent: Dossier) -> Dossier:
    applicant = session.get(Account, parent.applicant_id)
    assert applicant is not None
    defn = service.get_definition(session, linked.form_id, linked.form_version)
    return service.submit(session=session, dossier=parent, procedure=linked, defn=defn, by=applicant, settings=settings)


def pay(session: Session, settings: Settings, linked: Procedure, parent: Dossier) -> Payment:
    """The parent's one payment, its lines split per member and agency as the bill makes them."""
    bill = billing.bill_for(linked, parent, settings)
    return factories.payment(
        session,
        dossier=parent,
        amount=bill.total,
        lines=[line_record(line) for line in bill.lines],
    )


def by_member(children: list[Dossier]) -> dict[str, Dossier]:
    return {c.procedure_code: c for c in children}


def statuses(children: list[Dossier]) -> dict[str, str]:
    return {c.procedure_code: str(DossierStatus(c.status)) for c in children}
