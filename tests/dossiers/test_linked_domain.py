"""Linked applications (portal/dossiers/linked.py): the children created at submission, in its transaction, with
their codes, dates, files and pushes; a second submission creates none; withdrawal of the whole application.

The linked entry is written into the catalogue table as the loader stores one (tests/dossiers/linked_factories.py).
"""

from __future__ import annotations

import pytest
from sqlmodel import Session, col, select

from portal.dossiers import linked, service
from portal.dossiers.models import Dossier, DossierFile, DossierStatus
from portal.kernel.calendar import add_working_days, appointment_date, local_date
from portal.kernel.clock import as_utc
from portal.kernel.errors import Conflict, NotFound
from portal.kernel.settings import Settings
from tests import lifecycle_factories as lf
from tests.dossiers import linked_factories as lk
from tests.dossiers.linked_factories import A, B, C, D
from tests.lifecycle_factories import BACKOFFICE, OFFICER

pytestmark = pytest.mark.db


def _submitted(session: Session, settings: Settings, *, with_c: bool = True) -> tuple[Dossier, list[Dossier]]:
    procedure = lk.linked_procedure(session)
    parent = lk.draft(session, procedure, with_c=with_c)
    lk.submit(session, settings, procedure, parent)
    return parent, linked.children_of(session, parent)


def test_a_draft_on_a_linked_entry_is_a_parent(session: Session) -> None:
    procedure = lk.linked_procedure(session)
    parent = lk.draft(session, procedure)
    assert parent.linked_role == "parent" and parent.parent_id is None
    single = lk.draft(session, lk.linked_procedure(session, kind="single", members=[]))
    assert single.linked_role is None


def test_submission_creates_one_child_per_applying_member_with_its_code_date_and_status(
    session: Session, settings: Settings
) -> None:
    parent, children = _submitted(session, settings)

    assert [c.procedure_code for c in children] == [A, B, C, D]  # dependency order
    kids = lk.by_member(children)
    assert lk.statuses(children) == {A: "submitted", B: "waiting", C: "submitted", D: "waiting"}
    assert (kids[B].waiting_on, kids[D].waiting_on) == ([A], [B])
    assert kids[A].waiting_on is None and kids[C].waiting_on is None
    day = local_date(as_utc(parent.submitted_at)).strftime("%y%m%d")  # type: ignore[arg-type]
    # Each its own agency's code of the day; the parent took the receiving agency's (UBXA) number first.
    assert parent.code and parent.code.startswith(f"UBXA-{day}-")
    assert [kids[m].code.split("-")[0] for m in (A, B, C, D)] == ["UBXA", "CAT", "UBXA", "SNV"]  # type: ignore[union-attr]
    numbers = [int(x.code.rsplit("-", 1)[1]) for x in (parent, kids[A], kids[C])]  # type: ignore[union-attr]
    assert numbers == sorted(numbers) and len(set(numbers)) == 3
    for child in children:
        assert (child.linked_role, child.parent_id, child.applicant_id) == ("child", parent.id, parent.applicant_id)
        assert child.agency_code == lf.procedure_of(session, child).agency_code
        assert (child.delivery_method, child.channel, child.submitted_at) == ("centre", "online", parent.submitted_at)
        assert child.form_id == lf.procedure_of(session, child).form_id
    # Dates: a free member from now; a waiting one from its dependencies' (estimated) dates; the parent's the last.
    now = as_utc(parent.submitted_at)  # type: ignore[arg-type]
    assert kids[A].due_date == appointment_date(now, 1)
    assert kids[C].due_date == appointment_date(now, 3)
    assert kids[B].due_date == add_working_days(kids[A].due_date, 10)  # type: ignore[arg-type]
    assert kids[D].due_date == add_working_days(kids[B].due_date, 10)  # type: ignore[arg-type]
    assert parent.due_date == kids[D].due_date
    # The marital-status member's data is projected from the shared answers (its own fields only).
    assert kids[C].data["full_name"] == parent.data["full_name"] and "thu_tuc_lien_thong" not in kids[C].data
    assert parent.status == DossierStatus.SUBMITTED


def test_submission_copies_the_files_each_member_needs_under_its_own_component_ids(
    session: Session, settings: Settings
) -> None:
    parent, children = _submitted(session, settings)
    kids = lk.by_member(children)
    originals = {f.component_id: f for f in service.dossier_files(session, parent)}

    def files(child: Dossier) -> dict[str, DossierFile]:
        return {f.component_id: f for f in service.dossier_files(session, child)}

    assert set(files(kids[A])) == {"to_khai", "van_ban_uy_quyen"}
    assert set(files(kids[B])) == {"to_khai", "giay_to_cu_tru", "van_ban_uy_quyen"}
    assert set(files(kids[C])) == {"to_khai"}
    assert files(kids[D]) == {}
    renamed = files(kids[B])["to_khai"]  # the shared "to_khai_lltp" under the member's own id
    source = originals["to_khai_lltp"]
    assert (renamed.storage_key, renamed.sha256, renamed.filename) == (
        source.storage_key,
        source.sha256,
        "to_khai_lltp.pdf",
    )
    assert files(kids[A])["to_khai"].storage_key == originals["to_khai"].storage_key
    assert len(service.dossier_files(session, parent)) == 4  # the parent keeps its own


def test_an_optional_member_not_ticked_gets_no_child(session: Session, settings: Settings) -> None:
    _, children = _submitted(session, settings, with_c=False)
    assert [c.procedure_code for c in children] == [A, B, D]


def test_pushes_go_to_each_member_s_agency_never_for_the_parent_nor_a_waiting_child(
    session: Session, settings: Settings
) -> None:
    parent, children = _submitted(session, settings)
    kids = lk.by_member(children)

    assert lf.pushes(session, parent) == []
    assert lf.pushes(session, kids[B]) == [] and lf.pushes(session, kids[D]) == []
    [(kind, data)] = lf.pushes(session, kids[A])
    assert kind == "dossier.submitted"
    assert (data["agency_code"], data["procedure_code"], data["status"]) == ("UBXA", A, "submitted")
    assert data["linked"] == {"parent_code": parent.code, "member": A, "depends_on": []}
    [(kind, data)] = lf.pushes(session, kids[C])
    assert data["linked"]["member"] == C and data["due_date"] == kids[C].due_date.isoformat()  # type: ignore[union-attr]
    # An ordinary dossier's push has no linked object.
    other = lf.received(session)
    service.reject(session=session, dossier=other, reason="Thiếu giấy tờ", by=BACKOFFICE)
    assert lf.pushes(session, other)[-1][1]["linked"] is None


def test_the_timeline_and_the_applicant_s_notification(session: Session, settings: Settings) -> None:
    parent, children = _submitted(session, settings)
    kids = lk.by_member(children)
    [created] = [e for e in lf.events(session, parent) if e.kind == "linked_created"]
    assert [(c["member"], c["code"], c["status"]) for c in created.details["children"]] == [
        (c.procedure_code, c.code, c.status) for c in children
    ]
    submitted = [e for e in lf.events(session, parent) if e.kind == "submitted"]
    assert submitted[0].details["due"] == parent.due_date.isoformat()  # type: ignore[union-attr]
    assert lf.kinds(session, kids[A]) == ["submitted"]
    [waiting] = lf.events(session, kids[B])
    assert waiting.kind == "linked_waiting" and waiting.details["waiting_on"] == [A]
    # One notification of the submission: the parent's, with its date.
    assert lf.notification_kinds(session, parent) == ["dossier.submitted"]
    assert all(lf.notification_kinds(session, c) == [] for c in children)


def test_a_second_submission_creates_no_more_children(session: Session, settings: Settings) -> None:
    procedure = lk.linked_procedure(session)
    parent = lk.draft(session, procedure)
    lk.submit(session, settings, procedure, parent)
    first = linked.children_of(session, parent)
    code = parent.code

    lk.submit(session, settings, procedure, parent)
    assert linked.create_children(session, parent) == first

    assert parent.code == code
    rows = session.exec(select(Dossier).where(col(Dossier.parent_id) == parent.id)).all()
    assert len(rows) == 4
    assert sum(1 for e in lf.events(session, parent) if e.kind == "linked_created") == 1


def test_a_failure_while_creating_the_children_rolls_the_whole_submission_back(
    session: Session, settings: Settings
) -> None:
    procedure = lk.linked_procedure(session)
    parent = lk.draft(session, procedure)
    member = session.get(type(procedure), D)
    assert member is not None
    member.active = False  # the last member is no longer offered: its child cannot be made
    session.add(member)
    session.flush()

    with pytest.raises(NotFound), session.begin_nested():
        lk.submit(session, settings, procedure, parent)

    session.refresh(parent)
    assert parent.status == DossierStatus.DRAFT and parent.code is None
    assert session.exec(select(Dossier).where(col(Dossier.parent_id) == parent.id)).all() == []
    assert lf.events(session, parent)[-1].kind == "created"


# -- withdrawal


def test_withdrawing_the_application_withdraws_every_child_no_agency_received(
    session: Session, settings: Settings
) -> None:
    parent, children = _submitted(session, settings)
    kids = lk.by_member(children)
    applicant = lf.applicant_of(session, parent)

    service.withdraw(session=session, dossier=parent, by=applicant)

    assert parent.status == DossierStatus.WITHDRAWN
    for child in children:
        session.refresh(child)
    assert set(lk.statuses(children).values()) == {"withdrawn"}
    assert lf.push_types(session, kids[A])[-1] == "dossier.withdrawn"
    assert lf.push_types(session, kids[B]) == []  # it never reached its agency
    assert lf.pushes(session, parent) == []
    # Again: nothing more.
    service.withdraw(session=session, dossier=parent, by=applicant)
    assert lf.push_types(session, kids[A]).count("dossier.withdrawn") == 1


def test_withdrawal_is_refused_once_an_agency_received_its_part(session: Session, settings: Settings) -> None:
    from portal.dossiers import lifecycle

    parent, children = _submitted(session, settings)
    kids = lk.by_member(children)
    lifecycle.receive(session=session, dossier=kids[C], officer=OFFICER, by=BACKOFFICE)
    assert parent.status == DossierStatus.IN_PROCESS

    with pytest.raises(Conflict) as refused:
        service.withdraw(session=session, dossier=parent, by=lf.applicant_of(session, parent))

    assert refused.value.params["code"] == kids[C].code
    session.refresh(parent)
    assert parent.status == DossierStatus.IN_PROCESS
    assert {str(session.get(Dossier, c.id).status) for c in children} == {"submitted", "waiting", "received"}  # type: ignore[union-attr]


def test_one_part_alone_is_never_withdrawn_by_the_use_case(session: Session, settings: Settings) -> None:
    """Whatever page calls it: a part alone would leave the parts waiting on its result waiting for ever."""
    parent, children = _submitted(session, settings)
    kids = lk.by_member(children)

    with pytest.raises(Conflict):
        service.withdraw(session=session, dossier=kids[A], by=lf.applicant_of(session, parent))

    session.refresh(kids[A])
    assert kids[A].status == DossierStatus.SUBMITTED


# -- the shipped birth-registration package


def test_the_birth_package_of_the_catalogue_gives_three_children_two_waiting_for_the_birth_certificate(
    session: Session,
) -> None:
    from portal.catalog.linked import MEMBERS_FIELD
    from portal.catalog.models import Procedure
    from portal.kernel.clock import utcnow
    from tests import factories

    package = session.get(Procedure, "LT.KS")
    assert package is not None and package.is_linked
    parent = service.create_draft(session=session, procedure=package, by=factories.account(session))
    assert parent.linked_role == "parent"
    parent.data = {
        **parent.data,
        "child_name": "Nguyễn Minh An",
        "child_birth_date": "2026-11-20",
        MEMBERS_FIELD: ["1.004222"],
    }
    for component in package.component_list:
        factories.dossier_file(session, parent, component_id=component.id, filename=f"{component.id}.pdf")
    parent.status, parent.code, parent.submitted_at = DossierStatus.SUBMITTED, f"UBXA-T-{parent.id[:8]}", utcnow()
    parent.delivery_method = "online"
    session.add(parent)
    session.flush()

    children = linked.create_children(session, parent)

    kids = lk.by_member(children)
    assert list(kids) == ["1.001193", "1.004222", "BHXH.TE6"]
    assert lk.statuses(children) == {"1.001193": "submitted", "1.004222": "waiting", "BHXH.TE6": "waiting"}
    assert kids["BHXH.TE6"].agency_code == "BHXH" and kids["BHXH.TE6"].code.startswith("BHXH-")  # type: ignore[union-attr]
    assert kids["1.004222"].waiting_on == ["1.001193"]
    residence = {f.component_id for f in service.dossier_files(session, kids["1.004222"])}
    assert "to_khai_thay_doi_cu_tru" in residence and "giay_khai_sinh" not in residence  # filled by the result
    assert kids["1.004222"].data.get("registrant_name") == "Nguyễn Minh An"
    assert kids["BHXH.TE6"].data.get("insured_name") == "Nguyễn Minh An"
    assert parent.due_date == max(c.due_date for c in children if c.due_date)
