"""The shapes of the public statistics: the query (filters), the figures, their written definitions, the monthly
series and the rankings (frozen dataclasses; `portal.stats.query.compute` fills them, the page, the JSON and the
CSV show them). docs/STATISTICS.md defines every figure; `DEFINITIONS` carries the same texts for the page.

Percentages are floats 0..100 rounded to 2 decimals, None when their base is 0 (nothing to divide). Money is in
whole VND. Dates are local dates (Asia/Ho_Chi_Minh); a period is [date_from, date_to], both days included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from portal.kernel.errors import Invalid
from portal.kernel.i18n import N_

# The longest period a query may cover (days): five years of monthly series is still a readable chart.
MAX_PERIOD_DAYS = 5 * 366


@dataclass(frozen=True, slots=True)
class StatsQuery:
    """The filters: a period of local dates (both included) and optionally one agency, one field (the
    procedure's `field_vi`) and one procedure (codes as in the catalogue)."""

    date_from: date
    date_to: date
    agency: str | None = None
    field: str | None = None
    procedure: str | None = None

    def key(self) -> tuple[str, str, str, str, str]:
        """The cache key and the canonical form of the filters."""
        return (
            self.date_from.isoformat(),
            self.date_to.isoformat(),
            self.agency or "",
            self.field or "",
            self.procedure or "",
        )

    def params(self) -> dict[str, str]:
        """The same filters as URL query parameters (for links to the CSV and JSON with the same filters)."""
        out = {"from": self.date_from.isoformat(), "to": self.date_to.isoformat()}
        if self.agency:
            out["agency"] = self.agency
        if self.field:
            out["field"] = self.field
        if self.procedure:
            out["procedure"] = self.procedure
        return out


class StatsQueryError(Invalid):
    """A refused query: `message` (= `msgid`) is an English msgid (translate with `params`), `param` names the
    filter at fault ("from", "to", "agency", "field", "procedure", or "" for the whole query). A DomainError of
    status 422: uncaught, the app's handler renders it (page or problem+json)."""

    def __init__(self, message: str, *, param: str = "", **params: Any) -> None:
        super().__init__(message, params)
        self.message = message
        self.param = param


@dataclass(frozen=True, slots=True)
class CriterionScore:
    """The average score (1..5, 2 decimals; None without ratings) of one rating criterion
    (`portal.dossiers.lifecycle.RatingCriterion` value and its msgid label) over `ratings` ratings."""

    criterion: str
    label: str
    average: float | None
    ratings: int


@dataclass(frozen=True, slots=True)
class Figures:
    """The figures of one query (see DEFINITIONS and docs/STATISTICS.md for what each counts)."""

    received: int
    received_online: int
    received_postal_pickup: int
    received_counter: int
    resolved: int
    early: int
    on_time: int
    late: int
    early_percent: float | None
    on_time_percent: float | None
    late_percent: float | None
    # early + on time, in % of resolved: the "on-time rate" the rankings sort by.
    on_time_rate: float | None
    rejected: int
    withdrawn: int
    in_process: int
    overdue_now: int
    supplement_requested: int
    supplement_rate: float | None
    returned_by_post: int
    fees_paid: int
    fees_refunded: int
    fees_collected: int
    ratings: int
    satisfaction: tuple[CriterionScore, ...]
    # Feedback and complaints filed in the period, and those answered on time (portal/stats/feedback.py).
    feedback_received: int = 0
    feedback_answered_on_time: int = 0
    feedback_on_time_percent: float | None = None


@dataclass(frozen=True, slots=True)
class MonthlyPoint:
    """One calendar month of the period (`month` = "YYYY-MM"; the first and last may be partial)."""

    month: str
    received: int
    resolved: int
    early: int
    on_time: int
    late: int


@dataclass(frozen=True, slots=True)
class RankingRow:
    """One agency or procedure in a ranking by on-time rate (best first; ties by resolved count, then code).
    `rank` starts at 1; rows with nothing resolved in the period are left out."""

    rank: int
    code: str
    name_vi: str
    name_en: str
    resolved: int
    early: int
    on_time: int
    late: int
    on_time_rate: float | None


@dataclass(frozen=True, slots=True)
class Definition:
    """The written definition of a figure: `key` (a Figures attribute or "ranking"/"monthly"), its title and
    text as English msgids (translate them when shown)."""

    key: str
    title: str
    text: str


@dataclass(frozen=True, slots=True)
class Choice:
    """One option of a filter select: its value (a code, or the field's Vietnamese name) and its names."""

    value: str
    name_vi: str
    name_en: str


@dataclass(frozen=True, slots=True)
class FilterChoices:
    """What the filter selects offer (`portal.stats.query.choices`)."""

    agencies: tuple[Choice, ...]
    fields: tuple[Choice, ...]
    procedures: tuple[Choice, ...]


@dataclass(frozen=True, slots=True)
class StatsResult:
    """Everything one query shows: the figures, the monthly series (every month of the period, zeros
    included), the rankings, the definitions, and when it was computed (UTC; it may come from the cache)."""

    query: StatsQuery
    figures: Figures
    monthly: tuple[MonthlyPoint, ...]
    agencies: tuple[RankingRow, ...]
    procedures: tuple[RankingRow, ...]
    computed_at: datetime
    definitions: tuple[Definition, ...] = field(default=(), repr=False)


DEFINITIONS: tuple[Definition, ...] = (
    Definition(
        "received",
        N_("Dossiers received"),
        N_(
            "Dossiers the agency received (registered its reception) during the period: online, of which with "
            "a postal pickup of the paper originals, and at the counter."
        ),
    ),
    Definition(
        "resolved",
        N_("Dossiers resolved"),
        N_(
            "Dossiers whose result was issued during the period (the result ready for handover). Rejected and "
            "withdrawn dossiers are counted apart and are not in the on-time rate."
        ),
    ),
    Definition(
        "early",
        N_("Early"),
        N_(
            "Resolved dossiers whose result was issued before the official appointment date. The official date "
            "is counted in working days from reception; only the time a supplement was awaited from the "
            "applicant moves it (that time is excluded)."
        ),
    ),
    Definition(
        "on_time",
        N_("On time"),
        N_("Resolved dossiers whose result was issued on the official appointment date."),
    ),
    Definition(
        "late",
        N_("Late"),
        N_(
            "Resolved dossiers whose result was issued after the official appointment date. A new date promised "
            "in an apology letter never makes a dossier on time: it is still judged against the official date."
        ),
    ),
    Definition(
        "on_time_rate",
        N_("On-time rate"),
        N_("Early and on-time dossiers as a share of the resolved dossiers."),
    ),
    Definition(
        "rejected",
        N_("Rejected"),
        N_("Dossiers the agency rejected during the period, with the reason given to the applicant."),
    ),
    Definition(
        "withdrawn",
        N_("Withdrawn"),
        N_("Dossiers their applicant withdrew during the period, before the agency received them."),
    ),
    Definition(
        "in_process",
        N_("In process"),
        N_(
            "Dossiers received on or before the last day of the period whose result was not issued and that "
            "were not rejected by the end of that day (a waiting supplement included)."
        ),
    ),
    Definition(
        "overdue_now",
        N_("Overdue now"),
        N_(
            "Dossiers being processed today whose official appointment date has passed (now, whatever the "
            "period; a dossier waiting for a supplement is not overdue)."
        ),
    ),
    Definition(
        "supplement_rate",
        N_("Supplement-request rate"),
        N_(
            "Dossiers received during the period for which the agency asked the applicant for more documents "
            "at least once, as a share of the dossiers received."
        ),
    ),
    Definition(
        "returned_by_post",
        N_("Results returned by post"),
        N_("Dossiers completed during the period whose result was handed over by the postal service."),
    ),
    Definition(
        "fees_collected",
        N_("Fees collected"),
        N_(
            "Fees and charges paid successfully during the period, less the refunds made during the period, "
            "in Vietnamese dong."
        ),
    ),
    Definition(
        "satisfaction",
        N_("Satisfaction"),
        N_(
            "The average score (1 to 5) applicants gave to each criterion of the service-quality assessment, "
            "over the ratings given during the period."
        ),
    ),
    Definition(
        "feedback_received",
        N_("Feedback and complaints received"),
        N_(
            "Feedback, suggestions and complaints filed during the period about the agencies, procedures or "
            "dossiers in the filters (an agency filter counts the items that agency must answer)."
        ),
    ),
    Definition(
        "feedback_answered_on_time",
        N_("Feedback answered on time"),
        N_(
            "Of the feedback received during the period, the items the agency answered on or before their due "
            "date (the working days allowed after filing), and their share of the items received."
        ),
    ),
    Definition(
        "monthly",
        N_("By month"),
        N_("The dossiers received and resolved in each month of the period, resolved ones by timeliness."),
    ),
    Definition(
        "ranking",
        N_("Ranking by on-time rate"),
        N_(
            "Agencies and procedures ordered by their on-time rate over the dossiers they resolved in the period "
            "(ties: more resolved first). Those with nothing resolved are not ranked."
        ),
    ),
)


def definition(key: str) -> Definition:
    """The definition of `key` (KeyError when there is none)."""
    for item in DEFINITIONS:
        if item.key == key:
            return item
    raise KeyError(key)
