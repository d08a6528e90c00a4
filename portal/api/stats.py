"""The public statistics as JSON and CSV (no sign-in; in OpenAPI): `GET /api/stats` and `GET /api/stats.csv`.

The same filters as the page /stats (from, to, agency, field, procedure; `lang` picks the language of the
names and definitions), the same numbers (`portal.stats.query`), cached `settings.stats_cache_seconds`.
A refused filter is a 422 problem+json that names the parameter at fault (`param`), in English with the
Vietnamese text beside it (`detail_vi`). docs/STATISTICS.md defines every figure.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from portal.api.problems import PROBLEM_MEDIA_TYPE, PROBLEM_SCHEMA
from portal.kernel.db import SessionDep
from portal.kernel.deps import SettingsDep
from portal.kernel.i18n import N_, Translator
from portal.stats import export
from portal.stats.figures import StatsQueryError, StatsResult
from portal.stats.query import cached, parse_query

router = APIRouter(tags=["public statistics"])


class QueryOut(BaseModel):
    date_from: date = Field(serialization_alias="from", description="First local day of the period (included).")
    date_to: date = Field(serialization_alias="to", description="Last local day of the period (included).")
    agency: str | None = Field(description="Agency code, or null for all.")
    field: str | None = Field(description="Field of procedures (its Vietnamese name), or null for all.")
    procedure: str | None = Field(description="Procedure code, or null for all.")


class CriterionOut(BaseModel):
    criterion: str = Field(description="reception, guidance, result_correct, on_time or fees_as_announced.")
    name: str
    average: float | None = Field(description="Average score 1..5 (2 decimals); null without ratings.")
    ratings: int


class FiguresOut(BaseModel):
    received: int
    received_online: int
    received_postal_pickup: int = Field(description="Online dossiers whose paper originals were picked up by post.")
    received_counter: int
    resolved: int
    early: int
    on_time: int
    late: int
    early_percent: float | None = Field(description="% of resolved (2 decimals); null when nothing was resolved.")
    on_time_percent: float | None
    late_percent: float | None
    on_time_rate: float | None = Field(description="Early + on time, % of resolved.")
    rejected: int
    withdrawn: int
    in_process: int
    overdue_now: int
    supplement_requested: int
    supplement_rate: float | None = Field(description="% of received.")
    returned_by_post: int
    fees_paid: int = Field(description="VND.")
    fees_refunded: int = Field(description="VND.")
    fees_collected: int = Field(description="Paid less refunded, VND.")
    ratings: int
    satisfaction: list[CriterionOut]
    feedback_received: int = Field(description="Feedback and complaints filed in the period.")
    feedback_answered_on_time: int = Field(description="Of those, answered on or before their due date.")
    feedback_on_time_percent: float | None = Field(description="% of feedback received; null when none.")


class MonthOut(BaseModel):
    month: str = Field(description="YYYY-MM (local).", examples=["2026-03"])
    received: int
    resolved: int
    early: int
    on_time: int
    late: int


class RankingOut(BaseModel):
    rank: int
    code: str
    name: str
    resolved: int
    early: int
    on_time: int
    late: int
    on_time_rate: float | None


class DefinitionOut(BaseModel):
    key: str
    title: str
    text: str


class StatsOut(BaseModel):
    """The public statistics of one query."""

    query: QueryOut
    computed_at: datetime = Field(description="When the numbers were computed (they may be cached briefly).")
    figures: FiguresOut
    monthly: list[MonthOut]
    agencies: list[RankingOut] = Field(description="Agencies by on-time rate, best first.")
    procedures: list[RankingOut] = Field(description="Procedures by on-time rate, best first.")
    definitions: list[DefinitionOut]


def to_json(result: StatsResult, locale: str) -> StatsOut:
    """The answer's JSON shape, names and definitions in `locale`."""
    t = Translator(locale)
    q, f = result.query, result.figures
    vi = t.locale == "vi"
    return StatsOut(
        query=QueryOut(date_from=q.date_from, date_to=q.date_to, agency=q.agency, field=q.field, procedure=q.procedure),
        computed_at=result.computed_at,
        figures=FiguresOut(
            **{name: getattr(f, name) for name in FiguresOut.model_fields if name != "satisfaction"},
            satisfaction=[
                CriterionOut(criterion=s.criterion, name=t(s.label), average=s.average, ratings=s.ratings)
                for s in f.satisfaction
            ],
        ),
        monthly=[MonthOut(**{k: getattr(p, k) for k in MonthOut.model_fields}) for p in result.monthly],
        agencies=[_ranking(r, vi) for r in result.agencies],
        procedures=[_ranking(r, vi) for r in result.procedures],
        definitions=[DefinitionOut(key=d.key, title=t(d.title), text=t(d.text)) for d in result.definitions],
    )


def _ranking(row: object, vi: bool) -> RankingOut:
    values = {k: getattr(row, k) for k in RankingOut.model_fields if k != "name"}
    return RankingOut(name=getattr(row, "name_vi" if vi else "name_en"), **values)


def _refused(exc: StatsQueryError) -> JSONResponse:
    return JSONResponse(
        {
            "type": "about:blank",
            "title": "Unprocessable Content",
            "status": exc.status_code,
            "detail": Translator("en")(exc.message, exc.params),
            "detail_vi": Translator("vi")(exc.message, exc.params),
            "param": exc.param or None,
        },
        status_code=exc.status_code,
        media_type=PROBLEM_MEDIA_TYPE,
        headers={"Cache-Control": "no-store"},
    )


REFUSED: dict[int | str, dict[str, Any]] = {
    422: {
        "description": "A refused filter: not a date, a reversed or too long period, an unknown agency, field or "
        "procedure, a language other than vi and en, a repeated or unknown parameter. `param` names the filter "
        "at fault, `detail_vi` says it in Vietnamese.",
        "content": {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_SCHEMA}},
    }
}

From = Annotated[
    str | None,
    Query(alias="from", description="First day, YYYY-MM-DD (or DD/MM/YYYY); default 1 January of the end's year."),
]
To = Annotated[
    str | None, Query(alias="to", description="Last day (included), YYYY-MM-DD (or DD/MM/YYYY); default today.")
]
AgencyParam = Annotated[str | None, Query(description="Agency code (empty: all).")]
FieldParam = Annotated[str | None, Query(description="Field of procedures, its Vietnamese name (empty: all).")]
ProcedureParam = Annotated[str | None, Query(description="Procedure code (empty: all).")]
# A plain string checked in `_answer` (not the Literal), so that lang=xx is refused with a message naming it.
LangParam = Annotated[
    str, Query(description="Language of names and definitions.", json_schema_extra={"enum": ["vi", "en"]})
]
LANGS = ("vi", "en")


def _answer(request: Request, session: SessionDep, seconds: float) -> StatsResult | JSONResponse:
    params: dict[str, list[str]] = {}
    langs: list[str] = []
    for name, value in request.query_params.multi_items():
        if name == "lang":
            langs.append(value)
        else:
            params.setdefault(name, []).append(value)
    try:
        if len(langs) > 1:
            raise StatsQueryError(N_("The filter {name} is given more than once."), param="lang", name="lang")
        if langs and langs[0] not in LANGS:
            raise StatsQueryError(
                N_("There is no language {value}: the names and definitions are in vi or en."),
                param="lang",
                value=langs[0][:40],
            )
        query = parse_query(session, params, strict=True)
    except StatsQueryError as exc:
        return _refused(exc)
    return cached(session, query, seconds=seconds)


@router.get(
    "/api/stats",
    response_model=StatsOut,
    response_model_by_alias=True,
    summary="Public on-time statistics (JSON)",
    responses=REFUSED,
)
def stats_json(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    date_from: From = None,
    date_to: To = None,
    agency: AgencyParam = None,
    field: FieldParam = None,
    procedure: ProcedureParam = None,
    lang: LangParam = "vi",
) -> StatsOut | JSONResponse:
    """Figures, monthly series and rankings of the period and filters (the numbers of /stats)."""
    answer = _answer(request, session, settings.stats_cache_seconds)
    if isinstance(answer, JSONResponse):
        return answer
    return to_json(answer, lang)


@router.get(
    "/api/stats.csv",
    summary="Public on-time statistics (CSV)",
    response_class=Response,
    responses={
        200: {
            "description": "UTF-8 CSV with a byte-order mark (section,key,name,measure,value).",
            "content": {"text/csv": {}},
        },
        **REFUSED,
    },
)
def stats_csv(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    date_from: From = None,
    date_to: To = None,
    agency: AgencyParam = None,
    field: FieldParam = None,
    procedure: ProcedureParam = None,
    lang: LangParam = "vi",
) -> Response:
    """The same numbers as `/api/stats`, one value per line, for a spreadsheet."""
    answer = _answer(request, session, settings.stats_cache_seconds)
    if isinstance(answer, JSONResponse):
        return answer
    return Response(
        export.to_csv(answer, locale=lang),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{export.filename(answer)}"'},
    )
