"""Who is using the console and what they may see (docs/STAFF.md).

Interface the console's pages code against:

    class StaffViewer:                     # frozen dataclass
        member: StaffMember                # a detached copy: read it, do not add it to a session
        session_id: str
        role: str                          # StaffRole value
        agency_code: str | None            # an officer's agency
        postal_operator: str | None        # a postal desk's operator
        def sees_agency(self, code: str | None) -> bool      # supervisor: every agency; officer: their own
        @property name -> str              # "Nguyễn Văn A (UBXA)" as written into audit events
        @property agency_scope -> set[str] | None          # None: every agency (supervisor); else the codes
        @property nav -> list[NavItem]     # the console's pages this role may open (NAV), for the layout

    def current_staff(request) -> StaffViewer     # FastAPI dependency: a 303 to /staff/login?next= when signed
                                                  # out, to /staff/totp when only half signed in (no TOTP yet);
                                                  # a 403 page for a citizen's session without staff session
    def staff_roles(*roles: StaffRole) -> Callable # dependency factory: 403 for other roles
    CurrentStaff = Annotated[StaffViewer, Depends(current_staff)]
    def record_staff_read(request, kind, viewer, *, purpose, agency_code, dossier_id=None, **detail) -> None
                                                  # a console read (GET) recorded before its answer is sent

The viewer is also at `request.state.staff` (templates/staff/base.html draws the console's navigation from it).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from auth.sessions import current_session_row
from auth.staff import COOKIE_NAME, display_name, session_row
from auth.staff_models import StaffMember, StaffRole
from portal.audit.access import Actor, record_apart
from portal.kernel.deps import app_engine
from portal.kernel.errors import Forbidden
from portal.kernel.i18n import N_
from portal.kernel.uow import unit_of_work
from portal.kernel.web import is_htmx, redirect


@dataclass(frozen=True)
class NavItem:
    """A page of the console and the roles that may open it."""

    path: str
    label: str  # msgid
    roles: frozenset[str]


_ALL = frozenset(r.value for r in StaffRole)
_CENTRE_AND_AGENCIES = frozenset({StaffRole.SUPERVISOR.value, StaffRole.OFFICER.value})
_CENTRE = frozenset({StaffRole.SUPERVISOR.value})

# The console's pages (helpers of issue 16 write them): a page checks the role itself with `staff_roles`,
# the navigation only hides what the role cannot open. The postal desk sees the dossiers with postal orders.
NAV: tuple[NavItem, ...] = (
    NavItem("/staff/dossiers", N_("Dossiers"), _ALL),
    NavItem("/staff/feedback", N_("Feedback and complaints"), _CENTRE_AND_AGENCIES),
    NavItem("/staff/payments", N_("Payments"), _CENTRE_AND_AGENCIES),
    NavItem("/staff/stats", N_("Statistics"), _CENTRE_AND_AGENCIES),
    NavItem("/staff/checks", N_("Results to check"), _CENTRE),
    NavItem("/staff/outbox", N_("Outbox and dead letters"), _CENTRE),
)


@dataclass(frozen=True)
class StaffViewer:
    """The signed-in staff member (second factor done), as the console's pages and access checks see them."""

    member: StaffMember
    session_id: str
    role: str
    agency_code: str | None
    postal_operator: str | None

    def sees_agency(self, code: str | None) -> bool:
        """Whether this member may see the dossiers, feedback and figures of agency `code`."""
        if self.role == StaffRole.SUPERVISOR:
            return True
        return self.role == StaffRole.OFFICER and code is not None and code == self.agency_code

    @property
    def agency_scope(self) -> set[str] | None:
        """The agencies whose items this member sees: None for all (supervisor), an empty set for none."""
        if self.role == StaffRole.SUPERVISOR:
            return None
        return {self.agency_code} if self.role == StaffRole.OFFICER and self.agency_code else set()

    @property
    def name(self) -> str:
        return display_name(self.member)

    @property
    def nav(self) -> list[NavItem]:
        return [item for item in NAV if self.role in item.roles]


class StaffSignInNeeded(Exception):
    """Raised by `current_staff`: the browser goes to `target` (sign-in, or the TOTP step)."""

    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.target = target


def _here(request: Request) -> str:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        here = "/staff"
    return quote(here, safe="")


def _lookup(request: Request) -> tuple[StaffViewer | None, str | None, bool]:
    """(viewer, stage of a half-open session, whether a citizen is signed in) in a short session of its own."""
    token = request.cookies.get(COOKIE_NAME)
    with unit_of_work(app_engine(request.app)) as session:
        row = session_row(session, token) if token else None
        member = session.get(StaffMember, row.staff_id) if row is not None else None
        if row is not None and member is not None and member.active:
            if row.stage != "active":
                return None, row.stage, False
            session.expunge(member)
            viewer = StaffViewer(
                member=member,
                session_id=row.id,
                role=member.role,
                agency_code=member.agency_code,
                postal_operator=member.postal_operator,
            )
            return viewer, None, False
        citizen = "session" in request.scope and current_session_row(request, session) is not None
        return None, None, citizen


async def optional_staff(request: Request) -> StaffViewer | None:
    """The signed-in staff member, or None (never refuses)."""
    if not request.cookies.get(COOKIE_NAME):
        request.state.staff = None
        return None
    viewer, _, _ = await run_in_threadpool(_lookup, request)
    request.state.staff = viewer
    return viewer


async def current_staff(request: Request) -> StaffViewer:
    """The staff member of this browser, second factor done; otherwise to the sign-in (or a 403 for a citizen)."""
    viewer, stage, citizen = await run_in_threadpool(_lookup, request)
    request.state.staff = viewer
    if viewer is not None:
        return viewer
    if stage is not None:
        raise StaffSignInNeeded("/staff/totp?next=" + _here(request))
    if citizen:
        raise Forbidden(
            N_(
                "This is the staff console of the centre and the agencies. A citizen's account cannot open it: "
                "staff sign in at /staff/login."
            )
        )
    raise StaffSignInNeeded("/staff/login?next=" + _here(request))


CurrentStaff = Annotated[StaffViewer, Depends(current_staff)]
OptionalStaff = Annotated[StaffViewer | None, Depends(optional_staff)]


def staff_roles(*roles: StaffRole) -> Callable[[StaffViewer], Coroutine[Any, Any, StaffViewer]]:
    """A dependency: the signed-in member when their role is one of `roles`, else a 403 page."""
    allowed = {r.value for r in roles}

    async def dependency(viewer: CurrentStaff) -> StaffViewer:
        if viewer.role not in allowed:
            raise Forbidden(N_("Your staff role does not give access to this page."))
        return viewer

    return dependency


def record_staff_read(
    request: Request,
    kind: str,
    viewer: StaffViewer,
    *,
    purpose: str,
    agency_code: str | None,
    dossier_id: str | None = None,
    **detail: Any,
) -> None:
    """A read by the signed-in member (actor_kind staff, actor their name, `detail.staff_id` and `detail.role`),
    written before the answer is sent in a write transaction of its own on the app engine's side engine
    (`portal.audit.access.record_apart`): a GET's own transaction only reads, and it still holds its connection."""
    actor = Actor(kind="staff", name=viewer.name, purpose=purpose, agency_code=agency_code)
    record_apart(
        app_engine(request.app),
        kind,
        actor=actor,
        dossier_id=dossier_id,
        request=request,
        staff_id=viewer.member.id,
        role=viewer.role,
        **detail,
    )


def install(app: FastAPI) -> None:
    """Register the redirect of `StaffSignInNeeded` (called by the application factory)."""

    @app.exception_handler(StaffSignInNeeded)
    async def sign_in(request: Request, exc: StaffSignInNeeded) -> Response:
        if is_htmx(request):
            return Response(status_code=204, headers={"HX-Redirect": exc.target})
        return redirect(exc.target)
