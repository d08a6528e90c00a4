"""A linked application for the QA attacks (issue 15): the domain's own submission of a linked entry over four
real procedures (tests/dossiers/linked_factories.py: A 1.001193 UBXA, B 3.000333 CAT waiting for A, C 1.004873
UBXA, D 1.014199 SNV waiting for B), for an account signed in over HTTP, committed; back-office tokens per agency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from auth.models import Account
from portal.catalog.models import Procedure
from portal.dossiers import linked
from portal.dossiers.models import Dossier, DossierFile
from portal.kernel.db import writer
from portal.kernel.settings import Settings
from tests.api.test_token_and_api import bearer, get_token, new_client
from tests.conftest import signup
from tests.dossiers import linked_factories as lk
from tests.dossiers.linked_factories import A, B, C, D

API = "/api/v1/backoffice"
__all__ = ["API", "A", "B", "C", "D", "Scene", "browser", "partner", "submitted_application"]


def browser(app: Any, name: str = "Nguyễn Thị Hường", lang: str = "en") -> tuple[TestClient, str]:
    """A signed-in citizen's browser (no redirects followed) and the account's id."""
    client = TestClient(app, follow_redirects=False)
    client.cookies.set("lang", lang)
    login = signup(client, name=name)
    with Session(app.state.engine) as s:
        return client, s.exec(select(Account).where(Account.email == login)).one().id


def partner(app: Any, agency: str) -> dict[str, str]:
    """A bearer header of a back-office client of the agency."""
    client_id, secret = new_client(app, agency=agency)
    return bearer(get_token(TestClient(app), client_id, secret))


@dataclass
class Scene:
    procedure: str  # the linked entry's code
    parent: str  # ids
    parent_code: str
    children: dict[str, str]  # member -> child id
    codes: dict[str, str]  # member -> child code
    files: dict[str, list[str]] = field(default_factory=dict)  # dossier id -> its file ids


def draft_application(app: Any, account_id: str, **over: Any) -> tuple[str, str]:
    """A complete draft on a fresh linked entry (committed): (linked code, parent id)."""
    with Session(writer(app.state.engine), expire_on_commit=False) as s:
        procedure = lk.linked_procedure(s, **over)
        parent = lk.draft(s, procedure, applicant=s.get(Account, account_id))
        s.commit()
        return procedure.code, parent.id


def submitted_application(app: Any, settings: Settings, account_id: str, **over: Any) -> Scene:
    """A submitted linked application of the account: the parent and its four children (A, C submitted; B, D
    waiting), committed."""
    code, parent_id = draft_application(app, account_id, **over)
    with Session(writer(app.state.engine), expire_on_commit=False) as s:
        procedure = s.get(Procedure, code)
        parent = s.get(Dossier, parent_id)
        assert procedure is not None and parent is not None
        lk.submit(s, settings, procedure, parent)
        s.commit()
        children = linked.children_of(s, parent)
        files = {
            d.id: [f.id for f in s.exec(select(DossierFile).where(DossierFile.dossier_id == d.id))]
            for d in (parent, *children)
        }
        return Scene(
            procedure=code,
            parent=parent.id,
            parent_code=str(parent.code),
            children={c.procedure_code: c.id for c in children},
            codes={c.procedure_code: str(c.code) for c in children},
            files=files,
        )


__all__ += ["draft_application"]
