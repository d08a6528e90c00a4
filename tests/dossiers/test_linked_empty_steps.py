"""Steps with nothing to answer (a linked application's optional member not chosen): "Next" and "Back" on the
step pages and the documents page's "Back" skip them server-side (no JavaScript), the progress indicator does
not count them, and their address still shows the notice. The documents page says which member procedures
need each document.

LT.KS's steps: applicant (the members' checkbox), child, parents, registrant and residence (the last two ask
only the residence member's questions).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import csrf, signup
from tests.dossiers.test_linked_pages_journey import STEPS
from tests.web.flow import post_step, start

pytestmark = pytest.mark.db

LINKED = "LT.KS"
RESIDENCE = "1.004222"


def _progress(html: str) -> list[str]:
    """The progress indicator's entries, in order."""
    block = re.search(r'<ol class="progress-steps"[^>]*>(.*?)</ol>', html, re.S)
    assert block, html[:3000]
    return [re.sub(r"<[^>]+>|\s+", " ", li).strip() for li in re.findall(r"<li[^>]*>(.*?)</li>", block.group(1), re.S)]


def _heading(html: str) -> str:
    match = re.search(r"<h2>(.*?)</h2>", html, re.S)
    assert match, html[:3000]
    return " ".join(match.group(1).split())


def _fill(client: TestClient, dossier_id: str, *, ticked: bool) -> None:
    """The applicant's and child's steps (the residence member ticked or not)."""
    applicant: dict[str, Any] = dict(STEPS["applicant"])
    if not ticked:
        applicant.pop("thu_tuc_lien_thong")
    r = post_step(client, dossier_id, "applicant", applicant)
    assert r.status_code == 303 and r.headers["location"].endswith("/steps/child"), r.text[:2000]
    r = post_step(client, dossier_id, "child", STEPS["child"])
    assert r.status_code == 303 and r.headers["location"].endswith("/steps/parents"), r.text[:2000]


def test_next_and_back_skip_the_steps_of_a_member_not_chosen(client: TestClient) -> None:
    signup(client)
    dossier_id = start(client, LINKED)
    _fill(client, dossier_id, ticked=False)

    # From the last answerable step, "Next" leads to the documents, past registrant and residence.
    r = post_step(client, dossier_id, "parents", STEPS["parents"])
    assert r.status_code == 303, r.text[:2000]
    assert r.headers["location"] == f"/dossiers/{dossier_id}/files"

    # The documents page's "Back" is the last step with something to answer.
    files = client.get(f"/dossiers/{dossier_id}/files")
    assert files.status_code == 200
    assert f'href="/dossiers/{dossier_id}/steps/parents">' in files.text
    assert f"/dossiers/{dossier_id}/steps/residence" not in files.text
    # The progress indicator counts the three steps with questions, the documents and the review.
    progress = _progress(files.text)
    assert len(progress) == 5, progress
    assert not any("thường trú" in p.lower() or "residence" in p.lower() for p in progress), progress

    # A step page says "Step n of 5" and lists the same five entries.
    parents = client.get(f"/dossiers/{dossier_id}/steps/parents")
    assert parents.status_code == 200
    assert _heading(parents.text).startswith("Bước 3/5:"), _heading(parents.text)
    assert _progress(parents.text) == progress

    # A direct address of a step with nothing to answer still shows it, with the notice, and says where it is.
    residence = client.get(f"/dossiers/{dossier_id}/steps/residence")
    assert residence.status_code == 200
    assert 'id="nothing-to-answer"' in residence.text
    assert 'name="residence_basis"' not in residence.text
    assert len(_progress(residence.text)) == 6  # listed while it is the page shown
    assert 'aria-current="step"' in residence.text
    # Its "Back" skips the other empty step (registrant); its "Next" goes to the documents.
    r = post_step(client, dossier_id, "residence", {}, action="back")
    assert r.status_code == 303 and r.headers["location"].endswith("/steps/parents"), r.headers.get("location")
    r = post_step(client, dossier_id, "registrant", {}, action="next")
    assert r.status_code == 303 and r.headers["location"] == f"/dossiers/{dossier_id}/files"

    # "Back" from the documents page's step goes back through the steps with questions only.
    r = post_step(client, dossier_id, "parents", STEPS["parents"], action="back")
    assert r.status_code == 303 and r.headers["location"].endswith("/steps/child")

    # Resuming a draft left on an empty step resumes at the next step with something to answer.
    r = client.get(f"/dossiers/{dossier_id}/continue")
    assert r.status_code == 303
    post_step(client, dossier_id, "registrant", {}, action="save")
    r = client.get(f"/dossiers/{dossier_id}/continue")
    assert r.status_code == 303 and r.headers["location"] == f"/dossiers/{dossier_id}/files", r.headers


def test_the_steps_come_back_when_the_member_is_chosen(client: TestClient) -> None:
    signup(client)
    dossier_id = start(client, LINKED)
    _fill(client, dossier_id, ticked=False)
    # Ticking the residence member on the first step brings its two steps back into "Next" and the progress.
    r = post_step(client, dossier_id, "applicant", STEPS["applicant"])
    assert r.status_code == 303
    r = post_step(client, dossier_id, "parents", STEPS["parents"])
    assert r.status_code == 303 and r.headers["location"].endswith("/steps/registrant"), r.headers["location"]
    registrant = client.get(f"/dossiers/{dossier_id}/steps/registrant")
    assert 'id="nothing-to-answer"' not in registrant.text
    assert len(_progress(registrant.text)) == 7
    r = post_step(client, dossier_id, "registrant", STEPS["registrant"])
    assert r.status_code == 303 and r.headers["location"].endswith("/steps/residence")
    r = post_step(client, dossier_id, "residence", STEPS["residence"], action="back")
    assert r.status_code == 303 and r.headers["location"].endswith("/steps/registrant")
    files = client.get(f"/dossiers/{dossier_id}/files")
    assert f'href="/dossiers/{dossier_id}/steps/residence">' in files.text
    assert csrf(client, f"/dossiers/{dossier_id}/files")


def _members_line(html: str, component: str) -> str:
    match = re.search(rf'<p class="hint component-members" id="members-{component}">(.*?)</p>', html, re.S)
    return " ".join(match.group(1).split()) if match else ""


def test_the_documents_page_says_which_procedures_need_each_document(client: TestClient) -> None:
    """Each document of a linked application says which of the member procedures applied for need it
    ("Dùng cho: …", from Component.members), as the catalogue page does."""
    signup(client)
    dossier_id = start(client, LINKED)
    _fill(client, dossier_id, ticked=False)
    files = client.get(f"/dossiers/{dossier_id}/files").text
    # The shared application serves the birth registration and the card (the residence was not chosen).
    line = _members_line(files, "to_khai")
    assert line.startswith(("Dùng cho: ", "For: ")), line
    assert "Đăng ký khai sinh" in line and "Cấp thẻ bảo hiểm y tế cho trẻ em dưới 6 tuổi" in line, line
    assert "Đăng ký thường trú" not in line, line
    assert "Đăng ký khai sinh" in _members_line(files, "giay_chung_sinh")
    # A document only the member not chosen needs says so instead, and lists no procedure it serves.
    assert 'id="not-needed-giay_to_cho_o"' in files and not _members_line(files, "giay_to_cho_o")

    # Chosen, the residence registration is listed where its documents are needed.
    assert post_step(client, dossier_id, "applicant", STEPS["applicant"]).status_code == 303
    files = client.get(f"/dossiers/{dossier_id}/files").text
    assert "Đăng ký thường trú" in _members_line(files, "to_khai")
    assert _members_line(files, "giay_to_cho_o").endswith("Đăng ký thường trú"), _members_line(files, "giay_to_cho_o")


def test_a_single_procedure_names_no_members(client: TestClient) -> None:
    signup(client)
    dossier_id = start(client)
    assert 'class="hint component-members"' not in client.get(f"/dossiers/{dossier_id}/files").text
