"""The simulated agency: what it does next with a dossier (a pure decision on the dossier as the API shows
it), and the polling loop that follows the change feed and carries the decisions out."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import httpx

from portal.kernel.calendar import add_working_days, local_date
from portal.kernel.clock import utcnow
from portal.simulator.api import ApiError, BackOfficeApi, Moved
from portal.simulator.result import ResultFacts, agency_signer, render_result_pdf

log = logging.getLogger(__name__)

OFFICER = "Cán bộ một cửa (mô phỏng)"
SUPPLEMENT_MESSAGE = "Đề nghị ông/bà bổ sung giấy tờ theo yêu cầu dưới đây và gửi lại hồ sơ."
SUPPLEMENT_REASON = "Thiếu giấy tờ này hoặc bản đã nộp không đọc được; đề nghị tải lên bản rõ nét."
APOLOGY_REASON = (
    "Hồ sơ cần xác minh thêm với cơ quan liên quan nên chưa giải quyết kịp thời hạn. "
    "Cơ quan thành thật xin lỗi ông/bà và hẹn trả kết quả vào ngày mới."
)
APOLOGY_EXTRA_DAYS = 2  # working days after today for the new appointment date
SUB_STATUS = ("cho_phe_duyet", "Chờ lãnh đạo phê duyệt", "Awaiting the head's approval")
ENDED = frozenset({"completed", "rejected", "withdrawn", "draft"})
HANDOVERS = frozenset({"online", "centre", "post"})
PARCEL_ENDED = frozenset({"delivered", "returned", "cancelled"})
MAX_STEPS = 12  # transitions tried on one dossier in one pass (a 409 makes it look again)


class Supplement(StrEnum):
    NEVER = "never"
    ALWAYS = "always"
    ALTERNATE = "alternate"  # every other dossier, by the parity of its sequence number (demos)


@dataclass(frozen=True)
class Policy:
    """How the simulated agency behaves."""

    supplement: Supplement = Supplement.NEVER
    supplement_target: str | None = None  # "component:<id>" or "field:<name>"; else picked from the dossier
    late: bool = False  # hold dossiers until they are overdue, apologise, then finish
    officer: str = OFFICER
    pace_seconds: float = 0.0  # wait at least this long between two steps on one dossier (demos)

    def wants_supplement(self, dossier: dict[str, Any]) -> bool:
        if self.supplement is Supplement.ALWAYS:
            return True
        if self.supplement is Supplement.ALTERNATE:
            digits = "".join(ch for ch in str(dossier.get("code", "")) if ch.isdigit())
            return bool(digits) and int(digits[-1]) % 2 == 1
        return False


@dataclass(frozen=True)
class Action:
    """One thing to do: `kind` is a step of the API, or wait/hold/done."""

    kind: str
    args: dict[str, Any] = field(default_factory=dict)

    @property
    def is_transition(self) -> bool:
        return self.kind not in {"wait", "hold", "done"}


def _items(dossier: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = dossier.get(key) or []
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _date(value: Any) -> date | None:
    if isinstance(value, str) and value:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def supplement_items(dossier: dict[str, Any], target: str | None) -> list[dict[str, str]]:
    """What to ask for: the configured target, else the first optional component not handed in, else the first
    component handed in (to be sent again more legibly)."""
    if target:
        kind, _, name = target.partition(":")
        return [{"kind": kind, "target": name, "reason": SUPPLEMENT_REASON}]
    components = _items(dossier, "components")

    def cid(c: dict[str, Any]) -> str:
        return str(c.get("id") or c.get("component") or "")

    def has_files(c: dict[str, Any]) -> bool:
        return bool(c.get("files"))

    missing = [c for c in components if not has_files(c) and not c.get("application") and cid(c)]
    present = [c for c in components if has_files(c) and cid(c)]
    if not missing and not present:
        present = [{"id": f.get("component")} for f in _items(dossier, "files") if f.get("component")]
    chosen = (missing or present)[:1]
    return [{"kind": "component", "target": cid(c), "reason": SUPPLEMENT_REASON} for c in chosen]


def _delivery_parcel(dossier: dict[str, Any]) -> dict[str, Any] | None:
    """The dossier's latest postal order delivering its result, if the portal made one."""
    deliveries = [p for p in _items(dossier, "parcels") if p.get("kind") == "delivery"]
    return deliveries[-1] if deliveries else None


def next_action(dossier: dict[str, Any], policy: Policy, today: date) -> Action:
    """What the agency does next with the dossier as the API shows it."""
    status = str(dossier.get("status", ""))
    if status in ENDED:
        return Action("done")
    if status == "submitted":
        return Action("receive", {"officer": policy.officer})
    if status == "supplement_requested":
        return Action("wait")  # for the citizen's answer
    if status == "result_ready":
        method = str(dossier.get("delivery_method") or "online")
        if method == "post":
            parcel = _delivery_parcel(dossier)
            if parcel is not None and parcel.get("status") not in PARCEL_ENDED:
                return Action("wait")  # for the postal operator: the delivery with proof completes the dossier
            if parcel is not None and parcel.get("status") == "returned":
                return Action("hold")  # the result came back to the centre: for a person to sort out
        return Action("complete", {"handover": method if method in HANDOVERS else "online"})
    if status == "received":
        return Action("start_processing")
    if status != "in_process":
        return Action("hold")  # a status this simulator does not know: leave it alone
    if policy.wants_supplement(dossier) and not _items(dossier, "supplements"):
        items = supplement_items(dossier, policy.supplement_target)
        if items:
            return Action("request_supplement", {"items": items, "message": SUPPLEMENT_MESSAGE})
    if policy.late and not _items(dossier, "apologies"):
        official = _date(dossier.get("official_due_date")) or _date(dossier.get("due_date"))
        if not dossier.get("overdue_at") and (official is None or official >= today):
            return Action("hold")  # until it is late: the overdue job puts it back in the change feed
        new_date = add_working_days(today, APOLOGY_EXTRA_DAYS)
        return Action("apologise", {"reason": APOLOGY_REASON, "new_date": new_date.isoformat()})
    if (dossier.get("sub_status") or None) is None:
        code, text_vi, text_en = SUB_STATUS
        return Action("sub_status", {"sub_code": code, "text_vi": text_vi, "text_en": text_en})
    return Action("result")


@dataclass
class PassReport:
    """What one pass did: transitions made (code, step), dossiers still followed, and errors."""

    done: list[tuple[str, str]] = field(default_factory=list)
    following: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)


class AgencySimulator:
    """Follows one agency's change feed and moves its dossiers along the policy."""

    def __init__(
        self,
        api: BackOfficeApi,
        *,
        agency_code: str,
        agency_name: str,
        pki_folder: Path,
        base_url: str,
        policy: Policy | None = None,
        procedures: Mapping[str, tuple[str, str]] | None = None,
        today: Callable[[], date] | None = None,
        only: Callable[[str], bool] | None = None,
    ) -> None:
        self.api = api
        self.agency_code = agency_code
        self.agency_name = agency_name
        self.pki_folder = pki_folder
        self.base_url = base_url
        self.policy = policy or Policy()
        self.procedures = dict(procedures or {})  # code -> (name, name of its result)
        self.today = today or (lambda: local_date(utcnow()))
        self.only = only  # which dossier codes to play (tests and demos sharing an agency); all without it
        self.cursor: str | None = None
        # Dossiers this simulator is moving along: code -> monotonic time of its next step. A dossier that
        # waits for someone else (the citizen, the overdue job) is dropped: the change feed brings it back.
        self.following: dict[str, float] = {}

    @property
    def name(self) -> str:
        return self.agency_code

    def poll(self) -> list[str]:
        """Codes changed since the cursor (every page), the cursor moved past them."""
        codes: list[str] = []
        while True:
            page = self.api.changes(self.cursor)
            for item in page.items:
                code = item.get("code")
                if isinstance(code, str) and code and code not in codes and (self.only is None or self.only(code)):
                    codes.append(code)
            if page.next_cursor:
                self.cursor = page.next_cursor
            if not page.items or not page.next_cursor:
                return codes

    def run_once(self) -> PassReport:
        """One pass: read the change feed, then take every followed dossier as far as it can go now."""
        report = PassReport()
        now = time.monotonic()
        for code in self.poll():
            self.following.setdefault(code, now)
        for code in sorted(self.following):
            if self.following[code] > time.monotonic():
                continue
            try:
                keep = self.advance(code, report)
            except ApiError as exc:
                report.errors.append(str(exc))
                log.warning("simulator %s: %s", self.agency_code, exc)
                keep = exc.status >= 500  # a refusal (4xx) would be refused again: report it, move on
            if not keep:
                self.following.pop(code, None)
        report.following = set(self.following)
        return report

    def advance(self, code: str, report: PassReport) -> bool:
        """Move one dossier on until it waits for someone or ends; True to look at it again in a later pass."""
        for _ in range(MAX_STEPS):
            dossier = self.api.dossier(code)
            action = next_action(dossier, self.policy, self.today())
            if not action.is_transition:
                return False  # done, or waiting for someone else: the change feed brings it back if it moves
            try:
                self.perform(code, dossier, action)
            except Moved as exc:
                log.info("simulator %s: %s moved meanwhile (%s); looking again", self.agency_code, code, exc)
                continue
            report.done.append((code, action.kind))
            log.info("simulator %s: %s %s", self.agency_code, code, action.kind)
            if action.kind == "apologise" or self.policy.pace_seconds > 0:
                # After an apology the dossier stays as it is until a later pass (the citizen sees the new
                # date); with a pace, one step per dossier per pace.
                self.following[code] = time.monotonic() + self.policy.pace_seconds
                return True
        return True

    def perform(self, code: str, dossier: dict[str, Any], action: Action) -> None:
        args = action.args
        if action.kind == "receive":
            self.api.receive(code, officer=args["officer"])
        elif action.kind == "start_processing":
            self.api.start_processing(code)
        elif action.kind == "sub_status":
            self.api.set_sub_status(code, sub_code=args["sub_code"], text_vi=args["text_vi"], text_en=args["text_en"])
        elif action.kind == "request_supplement":
            self.api.request_supplement(code, items=args["items"], message=args["message"])
        elif action.kind == "apologise":
            self.api.apologise(code, reason=args["reason"], new_date=args["new_date"])
        elif action.kind == "result":
            self.api.upload_result(code, [(f"ket-qua-{code}.pdf", self.signed_result(code, dossier))])
        elif action.kind == "complete":
            self.api.complete(code, handover=args["handover"])
        else:  # pragma: no cover - next_action only returns the kinds above
            raise ValueError(action.kind)

    def signed_result(self, code: str, dossier: dict[str, Any]) -> bytes:
        procedure_code = str(dossier.get("procedure_code") or "")
        procedure, result_name = self.procedures.get(procedure_code, (procedure_code, ""))
        facts = ResultFacts(
            code=code,
            agency_code=self.agency_code,
            agency_name=self.agency_name,
            procedure=procedure,
            result_name=result_name,
            applicant_name=str(dossier.get("applicant_name") or ""),
            officer=self.policy.officer,
        )
        signer = agency_signer(
            self.pki_folder, base_url=self.base_url, agency_code=self.agency_code, agency_name=self.agency_name
        )
        return signer.sign(render_result_pdf(facts)).pdf


class Simulator(Protocol):
    """What the demo loop runs: an agency's or a postal operator's simulator."""

    @property
    def name(self) -> str: ...

    def run_once(self) -> PassReport: ...


def run_forever(
    simulators: Sequence[Simulator],
    *,
    poll_seconds: float,
    stop: threading.Event | None = None,
    label: str = "simulator",
) -> None:
    """Pass after pass until `stop` is set; a portal that does not answer (yet) is waited for. `label` starts
    the log lines."""
    stop = stop or threading.Event()
    while not stop.is_set():
        for simulator in simulators:
            try:
                simulator.run_once()
            except (httpx.TransportError, ApiError) as exc:
                log.warning("%s %s: %s", label, simulator.name, exc)
            except Exception:  # a demo loop outlives one bad pass (a signing error, a bug): logged, tried again
                log.exception("%s %s: the pass failed", label, simulator.name)
        stop.wait(poll_seconds)
