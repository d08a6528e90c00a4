"""Assurance levels: a procedure needs a sign-in at least this sure of who the citizen is."""

from __future__ import annotations

from urllib.parse import quote

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from auth.deps import Viewer
from auth.oidc import app_sso
from portal.kernel.errors import DomainError
from portal.kernel.hooks import Provided
from portal.kernel.i18n import N_


def _no_level_known(session: Session, path: str) -> int:
    return 1


# The assurance level that the page at `path` needs (a procedure's page, say), provided by the catalogue:
# a sign-in started from there asks the provider for that level at once, instead of a step-up later.
level_needed_at: Provided[[Session, str], int] = Provided("level_needed_at", _no_level_known)


class StepUpRequired(DomainError):
    """Signed in at a lower level than the procedure needs: explain, and offer to sign in again."""

    status_code = 403
    title = "Higher assurance level needed"

    def __init__(self, *, needed: int, current: int, next_url: str) -> None:
        super().__init__(
            N_("This procedure needs a sign-in at assurance level {needed}; you are signed in at level {current}."),
            {"needed": needed, "current": current},
        )
        self.needed, self.current, self.next_url = needed, current, next_url

    @property
    def step_up_url(self) -> str:
        return f"/auth/oidc/login?level={self.needed}&next={quote(self.next_url, safe='')}"


def require_level(viewer: Viewer | None, needed: int, *, next_url: str) -> None:
    """Refuse (with the way forward) when the viewer's sign-in is below the level `needed` (1 or 2)."""
    if viewer is None:
        return
    if viewer.level < needed:
        raise StepUpRequired(needed=needed, current=viewer.level, next_url=next_url)


def step_up_response(request: Request, exc: StepUpRequired) -> Response:
    """The page that explains the level needed and offers the SSO sign-in at that level."""
    from portal.kernel.web import is_htmx, render

    if is_htmx(request):
        target = f"/signin?level={exc.needed}&next={quote(exc.next_url, safe='')}"
        return Response(status_code=204, headers={"HX-Redirect": target})
    context = {"error": exc, "sso_available": app_sso(request.app) is not None}
    return render(request, "auth/step_up.html", context, status_code=exc.status_code)
