"""The outbox handler of `national.report`: one POST per try (through the configured reporter).

A refused (4xx) or failed (5xx, no answer) try raises HandlerFailed, so the outbox retries the message
later with the same MaBaoCao, and after PORTAL_OUTBOX_MAX_ATTEMPTS dead-letters it, where `portal outbox
list --dead` shows it and `portal outbox replay ID` sends it again: a report is never dropped. The handler is
`Staged`: on SQLite the POST runs outside the one write lock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlmodel import Session

from portal.kernel.outbox import HandlerFailed, Staged, WorkerContext, staged
from portal.kernel.settings import Settings
from portal.national.outbox import ReportToNational
from portal.national.reporters import (
    DEFAULT_TIMEOUT,
    Report,
    Reporter,
    ReportFailed,
    ReportingConfigError,
    ReportRefused,
    reporter_from_settings,
)

log = logging.getLogger("portal.national")


@dataclass(frozen=True)
class Job:
    reporter: Reporter
    report: Report


@dataclass(frozen=True)
class Outcome:
    acknowledgement: str = ""
    error: str | None = None


def prepare(session: Session, payload: ReportToNational, ctx: WorkerContext) -> Job:
    try:
        reporter = reporter_from_settings(ctx.settings)
    except ReportingConfigError as exc:
        raise HandlerFailed(str(exc)) from None
    report = Report(payload.report_id, payload.dossier_code, payload.kind, payload.sequence, payload.document)
    return Job(reporter, report)


def perform(job: Job, ctx: WorkerContext) -> Outcome:
    """The send (no database is held meanwhile on SQLite); what the receiver does is an outcome, not raised."""
    try:
        return Outcome(acknowledgement=job.reporter.send(job.report))
    except ReportRefused as exc:
        return Outcome(error=f"refused: {exc}")
    except ReportFailed as exc:
        return Outcome(error=f"failed: {exc}")


def finish(session: Session, payload: ReportToNational, outcome: Outcome, ctx: WorkerContext) -> None:
    if outcome.error is not None:
        raise HandlerFailed(f"national report {payload.report_id} of {payload.dossier_code}: {outcome.error}")
    log.info(
        "national report %s (%s #%s of %s) accepted%s",
        payload.report_id,
        payload.kind,
        payload.sequence,
        payload.dossier_code,
        f": {outcome.acknowledgement}" if outcome.acknowledgement else "",
    )


def lease_seconds(settings: Settings) -> float:
    """Longer than one try can take: four times the timeout (connect, write, read, pool) and a minute."""
    try:
        timeout = reporter_from_settings(settings).timeout
    except ReportingConfigError:
        timeout = DEFAULT_TIMEOUT
    return 4 * timeout + 60


report_handler = staged(ReportToNational, Staged(prepare=prepare, perform=perform, finish=finish, lease=lease_seconds))
