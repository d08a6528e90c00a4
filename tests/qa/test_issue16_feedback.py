"""QA of feedback and complaints (issue 16: "a complaint with an unsafe attachment, without a contact, or flooding
from one address"): attachments built to slip through, oversized uploads, odd text, double submits, odd tracking
codes, answers sent twice or at once. Never a 500, nothing saved from a refused form, nothing typed lost."""

from __future__ import annotations

import io
import secrets
import threading
import zlib
from collections.abc import Iterator
from datetime import date
from typing import Any

import pikepdf
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from portal.app import create_app
from portal.feedback import service
from portal.feedback.models import Feedback
from portal.kernel.clock import utcnow
from portal.kernel.errors import Conflict
from portal.kernel.settings import Settings
from tests import factories
from tests.feedback.helpers import form, post
from tests.staff_factories import staff_client, staff_csrf

pytestmark = pytest.mark.db
RAISED = {"feedback:ip": "1000000/60", "feedback_lookup:ip": "1000000/60", "signup:ip": "1000000/60"}


@pytest.fixture(scope="module")
def fb_app(settings: Settings) -> Iterator[FastAPI]:
    application = create_app(settings.model_copy(update={"rate_limits": {**settings.rate_limits, **RAISED}}))
    with TestClient(application):
        yield application


@pytest.fixture()
def fb_client(fb_app: FastAPI) -> TestClient:
    client = TestClient(fb_app, follow_redirects=False)
    client.cookies.set("lang", "en")
    return client


def _items_titled(app: Any, title: str) -> list[Feedback]:
    with Session(app.state.engine) as s:
        return list(s.exec(select(Feedback).where(col(Feedback.title) == title)).all())


# -- attachments built to slip through the checks ------------------------------------------------------------------


def _pikepdf_with(mutate: Any, *, object_streams: bool = True) -> bytes:
    """A one-page PDF changed by `mutate(pdf)`, saved with compressed object streams (names not in the raw bytes)."""
    pdf = pikepdf.open(io.BytesIO(factories.pdf_bytes()))
    mutate(pdf)
    out = io.BytesIO()
    mode = pikepdf.ObjectStreamMode.generate if object_streams else pikepdf.ObjectStreamMode.preserve
    pdf.save(out, object_stream_mode=mode, compress_streams=True)
    return out.getvalue()


def _js_in_page_annotation(pdf: Any) -> None:
    action = pdf.make_indirect(pikepdf.Dictionary(S=pikepdf.Name("/JavaScript"), JS=pikepdf.String("app.alert(1)")))
    link = pikepdf.Dictionary(
        Type=pikepdf.Name("/Annot"), Subtype=pikepdf.Name("/Link"), Rect=[0, 0, 100, 100], A=action
    )
    pdf.pages[0].obj["/Annots"] = pdf.make_indirect(pikepdf.Array([pdf.make_indirect(link)]))


def _launch_in_page_open_action(pdf: Any) -> None:
    launch = pikepdf.Dictionary(S=pikepdf.Name("/Launch"), F=pikepdf.String("cmd.exe"))
    pdf.pages[0].obj["/AA"] = pikepdf.Dictionary(O=pdf.make_indirect(launch))


def _embedded_file(pdf: Any) -> None:
    spec = pikepdf.AttachedFileSpec(pdf, b"MZ\x90\x00 not a pdf", filename="setup.exe")
    pdf.attachments["setup.exe"] = spec


def _xfa_form(pdf: Any) -> None:
    pdf.Root.AcroForm = pdf.make_indirect(pikepdf.Dictionary(Fields=pikepdf.Array(), XFA=pikepdf.String("<xdp/>")))


def _open_action_js(pdf: Any) -> None:
    pdf.Root.OpenAction = pdf.make_indirect(
        pikepdf.Dictionary(S=pikepdf.Name("/JavaScript"), JS=pikepdf.String("this.exportDataObject()"))
    )


def _zlib_bomb_png() -> bytes:
    """A valid PNG header claiming 30000 x 30000 RGB pixels (2.7 GB decoded) in a few hundred kilobytes."""
    width = height = 30_000

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    row = b"\x00" + b"\x00" * (width * 3)
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(200)) + compressor.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


UNSAFE = [
    ("annotation-js.pdf", lambda: _pikepdf_with(_js_in_page_annotation), 422),
    ("page-launch.pdf", lambda: _pikepdf_with(_launch_in_page_open_action), 422),
    ("embedded.pdf", lambda: _pikepdf_with(_embedded_file), 422),
    ("xfa.pdf", lambda: _pikepdf_with(_xfa_form), 422),
    ("open-js.pdf", lambda: _pikepdf_with(_open_action_js), 422),
    ("open-js-plain.pdf", lambda: _pikepdf_with(_open_action_js, object_streams=False), 422),
    ("setup.pdf", lambda: b"MZ\x90\x00\x03" + secrets.token_bytes(4000), 415),
    ("invoice.jpg", lambda: b"MZ\x90\x00\x03" + secrets.token_bytes(4000), 415),
    ("page.png", _zlib_bomb_png, 422),
    ("archive.png", factories.zip_as_png, 415),
    ("html.pdf", lambda: b"<html><script>alert(1)</script></html>", 415),
    ("svg.png", lambda: b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', 415),
    ("empty.pdf", lambda: b"", 422),
]


@pytest.mark.parametrize(("name", "make", "status"), UNSAFE, ids=[u[0] for u in UNSAFE])
def test_unsafe_attachments_are_refused_and_nothing_is_saved(
    fb_app: FastAPI, fb_client: TestClient, name: str, make: Any, status: int
) -> None:
    title = f"Đính kèm QA {secrets.token_hex(4)}"
    r = post(fb_client, form(title=title), files={"attachment": (name, make(), "application/pdf")})
    assert r.status_code == status, r.text[:500]
    assert 'id="attachment-error"' in r.text and title in r.text  # what was typed is kept
    assert _items_titled(fb_app, title) == []


def test_an_upload_far_over_the_limit_is_a_413(fb_app: FastAPI, fb_client: TestClient) -> None:
    title = f"Tệp rất lớn {secrets.token_hex(4)}"
    huge = b"%PDF-1.4\n" + b"0" * (25 * 1024 * 1024)
    r = post(fb_client, form(title=title), files={"attachment": ("huge.pdf", huge, "application/pdf")})
    assert r.status_code == 413  # refused by the portal's body limit before the form is read
    assert _items_titled(fb_app, title) == []


def test_file_names_cannot_smuggle_paths_or_controls(fb_app: FastAPI, fb_client: TestClient) -> None:
    title = f"Tên tệp lạ {secrets.token_hex(4)}"
    name = "..\\..\\etc/passwd\x00\r\n.jpg"
    r = post(fb_client, form(title=title), files={"attachment": (name, factories.jpeg_bytes(), "image/jpeg")})
    assert r.status_code == 303
    [item] = _items_titled(fb_app, title)
    assert item.attachment_name and "/" not in item.attachment_name and "\\" not in item.attachment_name
    assert not any(ord(ch) < 32 for ch in item.attachment_name)
    supervisor = staff_client(fb_app, role="supervisor")
    got = supervisor.get(f"/staff/feedback/{item.id}/attachment")
    assert got.status_code == 200 and got.content.startswith(b"%PDF-")
    assert "\r" not in got.headers["content-disposition"] and "passwd" not in got.headers["content-disposition"]


# -- the form's text --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"email": "a@b.vn\r\nBcc: victim@example.vn"}, "email"),
        ({"email": "", "phone": "+1 202 555 0100"}, "phone"),
        ({"email": "", "phone": "0" * 300}, "phone"),
        ({"email": "x" * 300 + "@example.vn"}, "email"),
        ({"name": "   "}, "name"),
        ({"kind": "complaint\u200b"}, "kind"),
        ({"about": "agency", "agency_code": "UBXA "}, "agency_code"),
        ({"about": "dossier", "dossier_code": "X\x00" * 30, "procedure_code": ""}, "dossier_code"),
        ({"about": "dossier", "dossier_code": "' OR 1=1 --", "procedure_code": ""}, "dossier_code"),
    ],
)
def test_odd_values_are_named_on_their_field_never_a_500(
    fb_client: TestClient, over: dict[str, str], field: str
) -> None:
    title = f"Giá trị lạ {secrets.token_hex(4)}"
    r = post(fb_client, form(title=title, **over))
    assert r.status_code == 422, (over, r.status_code)
    assert f'id="{field}-error"' in r.text and title in r.text


def test_control_characters_in_the_text_never_lose_the_form(fb_app: FastAPI, fb_client: TestClient) -> None:
    """A NUL pasted into the title or the body (PostgreSQL cannot store it: a 400 page that lost the form; SQLite
    stored it) is dropped, and the item is filed."""
    title = f"Tiêu đề có ký tự lạ {secrets.token_hex(4)}"
    body = "Nội dung phản ánh\x00 có một ký tự NUL ở giữa,\r\n\tđủ dài để lưu.\x1b"
    r = post(
        fb_client,
        form(
            title=title + "\x00",
            body=body,
            name="Trần\x00 Văn Bình",
            kind="complaint\x00",
            procedure_code="1.004873\x00",
            email="",
            phone="0912\x00345678",
        ),
    )
    assert r.status_code == 303, r.text[:300]
    [item] = _items_titled(fb_app, title)
    assert item.body == "Nội dung phản ánh có một ký tự NUL ở giữa,\r\n\tđủ dài để lưu."
    assert (item.name, item.kind, item.procedure_code, item.phone) == (
        "Trần Văn Bình",
        "complaint",
        "1.004873",
        "0912345678",
    )


def test_a_double_submit_files_one_item(fb_app: FastAPI, fb_client: TestClient) -> None:
    """The same form sent twice (a double click, a reload of the POST) gives the filer one tracking code."""
    data = form(title=f"Gửi hai lần {secrets.token_hex(4)}")
    first = post(fb_client, data)
    second = post(fb_client, data)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert len(_items_titled(fb_app, data["title"])) == 1
    # Another item (another body) from the same contact is filed as its own.
    third = post(fb_client, {**data, "body": data["body"] + " Bổ sung thêm một ý khác."})
    assert third.status_code == 303 and third.headers["location"] != first.headers["location"]


def test_flooding_is_429_with_the_form_kept_and_nothing_saved(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"rate_limits": {**settings.rate_limits, "feedback:ip": "1/3600"}}))
    with TestClient(app) as client:
        client.follow_redirects = False
        client.cookies.set("lang", "en")
        assert post(client, form()).status_code == 303
        title = f"Quá nhiều {secrets.token_hex(4)}"
        r = post(client, form(title=title), files={"attachment": ("a.pdf", factories.pdf_bytes(), "application/pdf")})
        assert r.status_code == 429
        assert title in r.text
        assert _items_titled(app, title) == []


# -- lookups -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    ["%00", "PA-2612-%00AAAAA", "x" * 3000, "pa-2612-%E2%80%AE", "..%2F..%2Fstaff", "PA-2612-OOOOOO", "%F0%9F%98%80"],
)
def test_odd_tracking_codes_are_404_pages(fb_client: TestClient, code: str) -> None:
    r = fb_client.get(f"/feedback/{code}")
    assert r.status_code == 404 and ('id="code-error"' in r.text or "%2F" in code)
    r = fb_client.get(f"/feedback/lookup?code={code[:200]}")
    assert r.status_code == 404


def test_lookups_are_rate_limited(settings: Settings) -> None:
    app = create_app(
        settings.model_copy(update={"rate_limits": {**settings.rate_limits, "feedback_lookup:ip": "3/60"}})
    )
    with TestClient(app) as client:
        codes = [client.get("/feedback/PA-2612-ABCDEF").status_code for _ in range(4)]
        assert codes == [404, 404, 404, 429]


# -- answers ------------------------------------------------------------------------------------------------------


def _item(app: Any, *, agency: str = "UBXA", consent: bool = False) -> Feedback:
    with Session(app.state.engine) as s:
        item = Feedback(
            code=f"PA-2612-{secrets.token_hex(3).upper()}",
            kind="complaint",
            about="agency",
            agency_code=agency,
            title="Phản ánh QA trả lời",
            body="Nội dung phản ánh đủ dài để trả lời thử.",
            name="Người Thử",
            email=f"qa16-{secrets.token_hex(3)}@example.vn",
            public_consent=consent,
            filed_at=utcnow(),
            due_on=date(2030, 1, 1),
        )
        s.add(item)
        s.commit()
        s.refresh(item)
        return item


def test_answering_twice_is_a_409_and_keeps_the_first_answer(fb_app: FastAPI) -> None:
    item = _item(fb_app)
    officer = staff_client(fb_app, role="officer", agency_code="UBXA")
    supervisor = staff_client(fb_app, role="supervisor")
    first = officer.post(
        f"/staff/feedback/{item.id}/answer", data={"csrf_token": staff_csrf(officer), "text": "Câu trả lời thứ nhất."}
    )
    assert first.status_code == 303
    second = supervisor.post(
        f"/staff/feedback/{item.id}/answer", data={"csrf_token": staff_csrf(supervisor), "text": "Câu trả lời thứ hai."}
    )
    assert second.status_code == 409
    with Session(fb_app.state.engine) as s:
        row = s.get(Feedback, item.id)
        assert row is not None and row.answer == "Câu trả lời thứ nhất."


def test_two_answers_at_once_one_wins_the_other_is_a_conflict(fb_app: FastAPI) -> None:
    item = _item(fb_app)
    engine = fb_app.state.engine
    outcomes: list[str] = []
    first_flushed = threading.Event()

    def attempt(text: str, hold: threading.Event | None) -> None:
        with Session(engine) as session:
            row = session.get(Feedback, item.id)
            assert row is not None
            if hold is not None:
                hold.wait(10)
            try:
                service.answer(
                    session, row, text=text, public_title=None, public_body=None, staff_name=text, staff_id=None
                )
            except Conflict:
                outcomes.append("conflict")
                session.rollback()
                return
            except Exception as exc:  # SQLite refusing the second writer also keeps one answer
                outcomes.append(f"error {type(exc).__name__}")
                session.rollback()
                return
            if hold is None:
                first_flushed.set()
                threading.Event().wait(0.3)
            session.commit()
            outcomes.append("ok")

    other = threading.Thread(target=attempt, args=("Trả lời B cùng lúc.", first_flushed))
    other.start()
    attempt("Trả lời A cùng lúc.", None)
    other.join(15)
    assert outcomes.count("ok") == 1 and len(outcomes) == 2, outcomes
    with Session(engine) as s:
        row = s.get(Feedback, item.id)
        assert row is not None and row.answer == "Trả lời A cùng lúc."


def test_answer_mistakes_keep_the_typed_text(fb_app: FastAPI) -> None:
    item = _item(fb_app, consent=True)
    officer = staff_client(fb_app, role="officer", agency_code="UBXA")
    token = staff_csrf(officer)
    typed = "Câu trả lời đủ dài nhưng thiếu bản công khai."
    r = officer.post(
        f"/staff/feedback/{item.id}/answer",
        data={"csrf_token": token, "text": typed, "public_title": "", "public_body": ""},
    )
    assert r.status_code == 422 and typed in r.text
    huge = officer.post(
        f"/staff/feedback/{item.id}/answer", data={"csrf_token": token, "text": "x" * 200_000, "public_title": "T"}
    )
    assert huge.status_code == 422
    with Session(fb_app.state.engine) as s:
        row = s.get(Feedback, item.id)
        assert row is not None and row.status == "open"


def test_an_answer_with_a_pasted_nul_is_stored_without_it(fb_app: FastAPI) -> None:
    """PostgreSQL refused the NUL with a 400 page that lost the typed answer."""
    item = _item(fb_app, consent=True)
    officer = staff_client(fb_app, role="officer", agency_code="UBXA")
    r = officer.post(
        f"/staff/feedback/{item.id}/answer",
        data={
            "csrf_token": staff_csrf(officer),
            "text": "Cơ quan đã\x00 xử lý xong.\r\nTrân trọng.",
            "public_title": "Tiêu đề\x00 công khai",
            "public_body": "Nội dung công khai đủ dài\x1b để đăng.",
        },
    )
    assert r.status_code == 303, r.text[:300]
    with Session(fb_app.state.engine) as s:
        row = s.get(Feedback, item.id)
        assert row is not None
        assert (row.answer, row.public_title, row.public_body) == (
            "Cơ quan đã xử lý xong.\r\nTrân trọng.",
            "Tiêu đề công khai",
            "Nội dung công khai đủ dài để đăng.",
        )
