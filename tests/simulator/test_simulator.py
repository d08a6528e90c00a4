"""The back-office simulator: its decisions, the development agency certificate, and whole lives played
against the app in-process through the real partner API (a TestClient is an httpx.Client)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from click.testing import CliRunner
from cryptography import x509
from fastapi.testclient import TestClient
from sqlmodel import Session

from portal.dossiers import deadline, lifecycle
from portal.dossiers.models import Dossier, DossierStatus
from portal.kernel.clock import utcnow
from portal.kernel.db import writer
from portal.kernel.settings import get_settings
from portal.simulator.agent import (
    APOLOGY_EXTRA_DAYS,
    AgencySimulator,
    Policy,
    Supplement,
    next_action,
    supplement_items,
)
from portal.simulator.api import BackOfficeApi, Moved
from portal.simulator.cli import backoffice
from portal.simulator.credentials import dev_client
from portal.simulator.embedded import EmbeddedSimulator, start_embedded
from portal.simulator.result import ResultFacts, agency_signer, render_result_pdf
from portal.simulator.setup import build_simulators
from signing.pki import DevPKI, get_pki
from signing.verify import verify_pdf
from tests import factories

TODAY = date(2026, 12, 7)


def _detail(status: str, **over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "code": "UBXA-261207-0003",
        "status": status,
        "delivery_method": "post",
        "supplements": [],
        "apologies": [],
        "components": [
            {"id": "to_khai", "mandatory": True, "files": [{"id": "f1"}]},
            {"id": "giay_to_ly_hon", "mandatory": False, "files": []},
        ],
        "official_due_date": "2026-12-10",
        "overdue_at": None,
        "sub_status": None,
    }
    base.update(over)
    return base


# -- decisions ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        ("submitted", "receive"),
        ("received", "start_processing"),
        ("in_process", "sub_status"),
        ("supplement_requested", "wait"),
        ("result_ready", "complete"),
        ("completed", "done"),
        ("rejected", "done"),
        ("withdrawn", "done"),
        ("something_new", "hold"),
    ],
)
def test_next_action_by_status(status: str, kind: str) -> None:
    assert next_action(_detail(status), Policy(), TODAY).kind == kind


def test_a_result_follows_the_sub_status_and_completion_hands_over_as_chosen() -> None:
    step = {"code": "cho_phe_duyet", "text_vi": "x", "text_en": "y"}
    assert next_action(_detail("in_process", sub_status=step), Policy(), TODAY).kind == "result"
    assert next_action(_detail("result_ready"), Policy(), TODAY).args == {"handover": "post"}
    assert next_action(_detail("result_ready", delivery_method="fax"), Policy(), TODAY).args == {"handover": "online"}


def test_supplement_once_for_the_missing_component() -> None:
    always = Policy(supplement=Supplement.ALWAYS)
    action = next_action(_detail("in_process"), always, TODAY)
    assert action.kind == "request_supplement"
    assert [i["target"] for i in action.args["items"]] == ["giay_to_ly_hon"]
    asked = _detail("in_process", supplements=[{"id": "s1", "answered_at": "2026-12-07T03:00:00Z"}])
    assert next_action(asked, always, TODAY).kind == "sub_status"  # asked once: now decide


def test_supplement_items_target_and_fallback() -> None:
    assert supplement_items(_detail("in_process"), "field:full_name") == [
        {"kind": "field", "target": "full_name", "reason": supplement_items(_detail("x"), None)[0]["reason"]}
    ]
    all_given = _detail("in_process", components=[{"id": "to_khai", "files": [{"id": "f"}]}])
    assert [i["target"] for i in supplement_items(all_given, None)] == ["to_khai"]  # to be sent again


def test_alternate_asks_every_other_dossier() -> None:
    alternate = Policy(supplement=Supplement.ALTERNATE)
    assert alternate.wants_supplement({"code": "UBXA-261207-0003"})
    assert not alternate.wants_supplement({"code": "UBXA-261207-0004"})


def test_late_holds_until_overdue_then_apologises_with_a_later_working_day() -> None:
    late = Policy(late=True)
    step = {"code": "c", "text_vi": "x", "text_en": "y"}
    assert next_action(_detail("in_process", sub_status=step), late, TODAY).kind == "hold"
    past = _detail("in_process", official_due_date="2026-12-04", sub_status=step)
    action = next_action(past, late, TODAY)
    assert action.kind == "apologise"
    new_date = date.fromisoformat(action.args["new_date"])
    assert new_date > TODAY and new_date.weekday() < 5
    assert (new_date - TODAY).days >= APOLOGY_EXTRA_DAYS
    apologised = {**past, "apologies": [{"new_date": action.args["new_date"]}]}
    assert next_action(apologised, late, TODAY).kind == "result"


# -- the development agency certificate -------------------------------------------------------------------


def test_agency_certificate_is_kept_and_its_results_verify(tmp_path: Path) -> None:
    pki = DevPKI.load_or_create(tmp_path / "pki", base_url="http://portal.test")
    issued = pki.issue_agency("Ủy ban nhân dân xã Gia Viễn", "UBXA")
    assert pki.issue_agency("Ủy ban nhân dân xã Gia Viễn", "UBXA").serial == issued.serial
    again = DevPKI.load_or_create(tmp_path / "pki", base_url="http://portal.test")
    assert again.issue_agency("Ủy ban nhân dân xã Gia Viễn", "UBXA").serial == issued.serial  # from the folder
    assert (tmp_path / "pki" / "agency-ubxa.key.pem").stat().st_mode & 0o777 == 0o600
    assert issued.chain[0] == pki.ca("services").cert
    usage = issued.cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment

    facts = ResultFacts(
        code="UBXA-261207-0001",
        agency_code="UBXA",
        agency_name="Ủy ban nhân dân xã Gia Viễn",
        procedure="Cấp Giấy xác nhận tình trạng hôn nhân",
        result_name="Giấy xác nhận tình trạng hôn nhân",
        applicant_name="Nguyễn Thị Hường",
        officer="Cán bộ một cửa",
    )
    signer = agency_signer(
        tmp_path / "pki", base_url="http://portal.test", agency_code="UBXA", agency_name=facts.agency_name
    )
    signed = signer.sign(render_result_pdf(facts)).pdf
    report = verify_pdf(signed, trust_roots=[pki.root], crls=pki.crls_der())
    assert report.ok, report.problems
    [signature] = report.signatures
    assert signature.signer_name == "Ủy ban nhân dân xã Gia Viễn" and signature.has_timestamp

    # Revoked (dated before the signature's timestamp: a later revocation would not count, as in PAdES): what
    # it signed no longer verifies, and the next result is signed with a new certificate.
    pki.revoke(issued.serial, when=utcnow() - timedelta(hours=1))
    assert not verify_pdf(signed, trust_roots=[pki.root], crls=pki.crls_der()).ok
    renewed = agency_signer(
        tmp_path / "pki", base_url="http://portal.test", agency_code="UBXA", agency_name=facts.agency_name
    )
    assert renewed.serial != issued.serial
    assert verify_pdf(renewed.sign(render_result_pdf(facts)).pdf, trust_roots=[pki.root], crls=pki.crls_der()).ok


@pytest.mark.parametrize(("name", "code"), [("", "UBXA"), ("UBND", "ubxa"), ("UBND", "U"), ("UBND", "UBXA1")])
def test_agency_certificate_refuses_bad_names(tmp_path: Path, name: str, code: str) -> None:
    pki = DevPKI.load_or_create(tmp_path / "pki", base_url="http://portal.test")
    with pytest.raises(ValueError):
        pki.issue_agency(name, code)


# -- whole lives through the API, in-process ----------------------------------------------------------------


def _new_dossier(app, **over) -> tuple[str, str]:
    """A submitted marital-status dossier (UBXA) with its application file; (id, code), committed."""
    with Session(writer(app.state.engine), expire_on_commit=False) as s:
        row = factories.dossier(s, submitted=True, files=("to_khai",), delivery_method="online", **over)
        s.commit()
        return row.id, row.code or ""


def _simulator(app, settings, code: str, policy: Policy, http: TestClient) -> AgencySimulator:
    [simulator] = build_simulators(http, settings, app.state.engine, policy=policy, agencies=["UBXA"])
    simulator.only = lambda c: c == code
    return simulator


def _reload(app, dossier_id: str) -> Dossier:
    with Session(app.state.engine) as s:
        row = s.get(Dossier, dossier_id)
        assert row is not None
        return row


@pytest.mark.db
def test_whole_life_with_a_supplement(app, settings) -> None:
    dossier_id, code = _new_dossier(app)
    http = TestClient(app)
    simulator = _simulator(app, settings, code, Policy(supplement=Supplement.ALWAYS), http)

    first = simulator.run_once()
    assert [step for c, step in first.done] == ["receive", "start_processing", "request_supplement"], first
    assert not first.errors
    detail = simulator.api.dossier(code)
    assert detail["status"] == "supplement_requested"
    [asked] = detail["supplements"]
    assert [(i["kind"], i["target"]) for i in asked["items"]] == [("component", "giay_to_ly_hon")]
    assert simulator.run_once().done == []  # waiting for the citizen: nothing to do

    # The citizen uploads what was asked and sends the dossier back.
    with Session(writer(app.state.engine), expire_on_commit=False) as s:
        row = s.get_one(Dossier, dossier_id)
        factories.dossier_file(s, row, component_id="giay_to_ly_hon", created_at=utcnow() + timedelta(seconds=1))
        lifecycle.answer_supplement(session=s, dossier=row, by=factories.account(s, full_name="Nguyễn Thị Hường"))
        s.commit()

    second = simulator.run_once()
    assert [step for c, step in second.done] == ["sub_status", "result", "complete"], second
    assert not second.errors
    final = simulator.api.dossier(code)
    assert final["status"] == "completed" and final["handover"] == "online"
    [result] = final["results"]
    assert result["filename"] == f"ket-qua-{code}.pdf"
    assert result["signature_report"]["ok"] is True, result
    assert result["signature_report"]["signer"] == simulator.agency_name
    kinds = [e["kind"] for e in final["timeline"]]
    for kind in ("received", "processing_started", "supplement_requested", "supplement_answered", "result_issued"):
        assert kind in kinds, kinds
    assert kinds[-1] == "completed"
    # The sealed copy the citizen downloads still carries the agency's signature, which verifies.
    sealed = http.get(result["download_url"], headers={"Authorization": f"Bearer {simulator.api.token()}"})
    assert sealed.status_code == 200 and sealed.content.startswith(b"%PDF")
    pki = get_pki(app)
    report = verify_pdf(sealed.content, trust_roots=[pki.root], crls=pki.crls_der())
    assert report.ok, report.problems
    assert report.signatures[0].signer_name == simulator.agency_name
    assert len(report.signatures) == 2  # the agency's, then the portal's seal
    assert simulator.run_once().done == []  # completed: nothing more, ever
    assert not simulator.following


@pytest.mark.db
def test_late_dossier_is_apologised_for_then_finished(app, settings) -> None:
    dossier_id, code = _new_dossier(app)
    http = TestClient(app)
    simulator = _simulator(app, settings, code, Policy(late=True), http)
    first = simulator.run_once()
    assert [step for c, step in first.done] == ["receive", "start_processing"], first
    assert simulator.run_once().done == []  # holding: not late yet

    # Time passes: the official date is behind us and the overdue job marks the dossier.
    with Session(writer(app.state.engine), expire_on_commit=False) as s:
        row = s.get_one(Dossier, dossier_id)
        row.official_due_date = row.due_date = date.today() - timedelta(days=3)
        s.add(row)
        s.commit()
        assert [d.id for d in deadline.sweep_overdue(s)] == [dossier_id]
        s.commit()

    second = simulator.run_once()
    assert [step for c, step in second.done] == ["apologise"], second  # then it stops for this pass
    detail = simulator.api.dossier(code)
    [apology] = detail["apologies"]
    assert date.fromisoformat(apology["new_date"]) > date.today()
    assert detail["due_date"] == apology["new_date"]
    third = simulator.run_once()
    assert [step for c, step in third.done] == ["sub_status", "result", "complete"], third
    assert _reload(app, dossier_id).timeliness == "late"


@pytest.mark.db
def test_a_dossier_moved_by_someone_else_is_looked_at_again(app, settings) -> None:
    """Between the simulator's read and its transition, another officer rejects the dossier: the 409 is taken
    as news, the dossier is read again and left alone."""
    dossier_id, code = _new_dossier(app)
    http = TestClient(app)
    simulator = _simulator(app, settings, code, Policy(), http)
    other = BackOfficeApi(http, simulator.api.credentials)
    real_dossier = simulator.api.dossier
    reads = []

    def dossier_then_rejected(c: str) -> dict[str, Any]:
        detail = real_dossier(c)
        reads.append(detail["status"])
        if len(reads) == 2:  # after the reception: reject it before the simulator starts processing
            other._post(c, "reject", json={"reason": "Hồ sơ không thuộc thẩm quyền giải quyết."})
        return detail

    simulator.api.dossier = dossier_then_rejected  # type: ignore[method-assign,assignment]
    report = simulator.run_once()
    assert [step for c, step in report.done] == ["receive"], report
    assert reads == ["submitted", "received", "rejected"]
    assert not report.errors and not simulator.following
    with pytest.raises(Moved):
        other.start_processing(code)
    assert _reload(app, dossier_id).status == DossierStatus.REJECTED


@pytest.mark.db
def test_development_clients_are_kept_and_replaced_when_refused(app, settings) -> None:
    engine = app.state.engine
    first = dev_client(settings, engine, "UBXA")
    assert dev_client(settings, engine, "UBXA") == first
    stored = json.loads((Path(settings.storage_dir) / "simulator" / "clients.json").read_text())
    assert stored["UBXA"]["client_id"] == first.client_id
    assert (Path(settings.storage_dir) / "simulator" / "clients.json").stat().st_mode & 0o777 == 0o600
    # The database forgot it (a reset): the simulator gets a new client instead of failing.
    with Session(writer(engine)) as s:
        from auth.clients import ApiClient

        s.delete(s.get(ApiClient, first.client_id))
        s.commit()
    [simulator] = build_simulators(TestClient(app), settings, engine, policy=Policy(), agencies=["UBXA"])
    assert simulator.api.credentials.client_id != first.client_id
    assert simulator.api.token()


def test_no_development_clients_in_production(settings) -> None:
    from portal.simulator.credentials import NotInDevelopment

    with pytest.raises(NotInDevelopment):
        dev_client(settings.model_copy(update={"environment": "production"}), None, "UBXA")  # type: ignore[arg-type]


# -- the command, against the app served over a socket ---------------------------------------------------


@pytest.fixture()
def served(app) -> Iterator[str]:
    """The test app (its lifespan already run by the `app` fixture) served by uvicorn on a free port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(5)
        listener.close()


@pytest.mark.db
def test_simulate_command_once(app, settings, served: str) -> None:
    dossier_id, code = _new_dossier(app)
    env = {
        "PORTAL_ENVIRONMENT": "test",
        "PORTAL_DATABASE_URL": settings.database_url,
        "PORTAL_STORAGE_DIR": str(settings.storage_dir),
        "PORTAL_SECRET_KEY": settings.secret_key,
        "PORTAL_BASE_URL": settings.base_url,
    }
    args = ["simulate", "--once", "--agency", "UBXA", "--dossier", code, "--base-url", served]
    # The command reads the process-wide settings (cached): a test before this one in the same process may have
    # cached another environment's (another database), so the command must read this environment afresh.
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(backoffice, args, env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        steps = ("receive", "start_processing", "sub_status", "result", "complete")
        assert lines == [f"UBXA {code} {step}" for step in steps]
        assert _reload(app, dossier_id).status == DossierStatus.COMPLETED

        refused = CliRunner().invoke(backoffice, ["simulate", "--once", "--client-id", "x"], env=env)
        assert refused.exit_code == 2 and "--client-id needs --client-secret and exactly one --agency" in refused.output
        wrong = CliRunner().invoke(backoffice, [*args, "--supplement-target", "x"], env=env)
        assert wrong.exit_code == 2 and "component:<id> or field:<name>" in wrong.output
    finally:
        get_settings.cache_clear()  # not the command's environment for the tests after this one


def test_embedded_only_in_development(settings) -> None:
    assert start_embedded(settings, None) is None  # type: ignore[arg-type]  # a test environment
    development = settings.model_copy(update={"environment": "development", "simulator": False})
    assert start_embedded(development, None) is None  # type: ignore[arg-type]


@pytest.mark.db
def test_embedded_simulator_plays_the_served_portal(app, settings, served: str) -> None:
    dossier_id, code = _new_dossier(app)
    embedded = EmbeddedSimulator(
        settings.model_copy(update={"base_url": served}),
        app.state.engine,
        policy=Policy(),
        poll_seconds=0.2,
        only=lambda c: c == code,
    )
    embedded.start()
    try:
        deadline = time.monotonic() + 60
        while _reload(app, dossier_id).status != DossierStatus.COMPLETED and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        embedded.stop()
    assert _reload(app, dossier_id).status == DossierStatus.COMPLETED
    assert not embedded.thread.is_alive()
    assert "UBXA" in [s.agency_code for s in embedded.simulators]  # every agency of the catalogue is played


def test_embedded_simulator_gives_up_on_a_portal_that_never_answers(settings) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"  # bound, not listening: refused
        embedded = EmbeddedSimulator(settings.model_copy(update={"base_url": url}), None, ready_timeout=1)  # type: ignore[arg-type]
        embedded.start()
        embedded.thread.join(10)
    assert not embedded.thread.is_alive() and embedded.simulators == []


@pytest.mark.db
def test_a_transition_whose_answer_is_lost_is_sent_again_with_the_same_key(app, settings) -> None:
    dossier_id, code = _new_dossier(app)
    http = TestClient(app)
    simulator = _simulator(app, settings, code, Policy(), http)
    sent: list[tuple[str, str | None]] = []
    real_request = http.request

    def lossy(method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = real_request(method, url, **kwargs)
        if method == "POST" and "/backoffice/" in str(url):
            sent.append((str(url).rsplit("/", 1)[-1], kwargs["headers"].get("Idempotency-Key")))
            if len(sent) == 1:  # the portal received the dossier, and the answer never came back
                raise httpx.ReadError("connection reset")
        return response

    http.request = lossy  # type: ignore[method-assign]
    report = simulator.run_once()
    assert not report.errors, report.errors
    assert [step for _, step in report.done] == ["receive", "start_processing", "sub_status", "result", "complete"]
    (first, key1), (again, key2) = sent[:2]
    assert first == again == "receive" and key1 == key2 and key1
    assert len({key for _, key in sent}) == len(sent) - 1  # every other transition had a key of its own
    timeline = simulator.api.dossier(code)["timeline"]
    assert [e["kind"] for e in timeline].count("received") == 1  # received once, though asked twice
    assert _reload(app, dossier_id).status == DossierStatus.COMPLETED
