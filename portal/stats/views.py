"""The public statistics page /stats (no sign-in): the filters, each figure with its definition, the charts (SVG
drawn on the server, each with its data table) and the rankings; links to the CSV and JSON with the same filters.

The figures come from `portal.stats.query` (cached per process for settings.stats_cache_seconds); refused
filters are shown in the form with the values as typed, with status 422.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from auth.deps import OptionalAccount
from portal.kernel.calendar import local_date
from portal.kernel.clock import utcnow
from portal.kernel.db import SessionDep
from portal.kernel.deps import SettingsDep
from portal.kernel.i18n import N_, Translator
from portal.kernel.web import render, translator
from portal.stats import charts
from portal.stats.figures import DEFINITIONS, Definition, FilterChoices, StatsQuery, StatsQueryError, StatsResult
from portal.stats.query import KNOWN_PARAMS, cached, choices, parse_query

router = APIRouter()

ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
COLOURS = {"early": charts.EARLY, "on_time": charts.ON_TIME, "late": charts.LATE}
# What the form shows back of a refused value (the message quotes it too).
MAX_SHOWN = 200


@dataclass(frozen=True, slots=True)
class Preset:
    """A ready-made period: a link that fills the dates (works without JavaScript)."""

    label: str
    href: str
    current: bool


def _raw(request: Request) -> dict[str, list[str]]:
    """The filters as sent (a repeated parameter stays a list: parse_query refuses it)."""
    return {name: request.query_params.getlist(name) for name in KNOWN_PARAMS if name in request.query_params}


def _form(raw: dict[str, list[str]], query: StatsQuery | None) -> dict[str, str]:
    """The values the form shows: the query's canonical ones, or what was typed when it was refused."""
    if query is not None:
        return {
            "from": query.date_from.isoformat(),
            "to": query.date_to.isoformat(),
            "agency": query.agency or "",
            "field": query.field or "",
            "procedure": query.procedure or "",
        }
    return {name: (raw.get(name) or [""])[0][:MAX_SHOWN] for name in KNOWN_PARAMS}


def _months_back(day: date, months: int) -> date:
    """The first day of the month `months` before the month of `day`."""
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def _presets(request: Request, t: Translator, form: dict[str, str], today: date) -> list[Preset]:
    """This year, the last 12 months (this one included) and last year, keeping the other filters."""
    base = str(request.app.url_path_for("stats"))
    keep = {name: form[name] for name in ("agency", "field", "procedure") if form.get(name)}
    periods = (
        (t(N_("This year")), date(today.year, 1, 1), today),
        (t(N_("Last 12 months")), _months_back(today, 11), today),
        (t(N_("Last year")), date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)),
    )
    return [
        Preset(
            label=label,
            href=f"{base}?{urlencode({'from': start.isoformat(), 'to': end.isoformat(), **keep})}",
            current=form.get("from") == start.isoformat() and form.get("to") == end.isoformat(),
        )
        for label, start, end in periods
    ]


def percent(t: Translator, value: float | None) -> str:
    """97,08 % (vi) / 97.08 % (en); an em dash when there is nothing to divide."""
    return "—" if value is None else f"{t.number(round(value, 2))}\u00a0%"


def score(t: Translator, value: float | None) -> str:
    return "—" if value is None else t.number(round(value, 2))


def month_label(month: str) -> str:
    """ "2025-03" → "03/2025" (how both languages write a month here)."""
    year, _, number = month.partition("-")
    return f"{number}/{year}"


def build_charts(result: StatsResult, t: Translator) -> dict[str, Markup]:
    """The page's three charts, in the reader's language (each has its data table beside it on the page)."""
    f = result.figures
    fmt = t.number
    timeliness = [
        charts.Slice(t(N_("Early")), charts.EARLY, f.early),
        charts.Slice(t(N_("On time")), charts.ON_TIME, f.on_time),
        charts.Slice(t(N_("Late")), charts.LATE, f.late),
    ]
    shares = charts.donut(
        chart_id="chart-timeliness",
        title=t(N_("Resolved dossiers by timeliness")),
        desc=t(
            N_(
                "Early {early}, on time {on_time}, late {late} of {resolved} resolved; on-time rate {rate}. "
                "The table below gives the same numbers."
            ),
            early=fmt(f.early),
            on_time=fmt(f.on_time),
            late=fmt(f.late),
            resolved=fmt(f.resolved),
            rate=percent(t, f.on_time_rate),
        ),
        slices=timeliness,
        centre=percent(t, f.on_time_rate),
        centre_sub=t(N_("on time")) if f.on_time_rate is not None else "",
        fmt=fmt,
    )
    months = [month_label(p.month) for p in result.monthly]
    monthly = charts.stacked_bars(
        chart_id="chart-monthly",
        title=t(N_("Resolved dossiers by month and timeliness")),
        desc=t(
            N_(
                "One bar per month from {first} to {last}: early at the bottom, then on time, then late. "
                "The table below gives the same numbers."
            ),
            first=months[0] if months else "",
            last=months[-1] if months else "",
        ),
        categories=months,
        series=[
            charts.Series(t(N_("Early")), charts.EARLY, tuple(p.early for p in result.monthly)),
            charts.Series(t(N_("On time")), charts.ON_TIME, tuple(p.on_time for p in result.monthly)),
            charts.Series(t(N_("Late")), charts.LATE, tuple(p.late for p in result.monthly)),
        ],
        fmt=fmt,
    )
    satisfaction = charts.horizontal_bars(
        chart_id="chart-satisfaction",
        title=t(N_("Average satisfaction per criterion")),
        desc=t(
            N_("Average score from 1 to 5 of each criterion over {n} ratings. The table below gives the same numbers."),
            n=fmt(f.ratings),
        ),
        bars=[charts.Bar(t(c.label), c.average, score(t, c.average)) for c in f.satisfaction],
        maximum=5,
    )
    return {"timeliness": shares, "monthly": monthly, "satisfaction": satisfaction}


def _selected_unknown(form: dict[str, str], options: FilterChoices) -> dict[str, str]:
    """A refused agency/field/procedure value not among the options, so that its select can keep it shown."""
    known = {
        "agency": {c.value for c in options.agencies},
        "field": {c.value for c in options.fields},
        "procedure": {c.value for c in options.procedures},
    }
    return {name: form[name] for name, values in known.items() if form.get(name) and form[name] not in values}


@router.get("/stats", name="stats")
def stats_page(request: Request, session: SessionDep, account: OptionalAccount, settings: SettingsDep) -> Response:
    """Public figures of dossier processing for a period and optionally an agency, a field or a procedure."""
    t = translator(request)
    today = local_date(utcnow())
    raw = _raw(request)
    error: StatsQueryError | None = None
    query: StatsQuery | None = None
    result: StatsResult | None = None
    try:
        query = parse_query(session, raw, today=today)
    except StatsQueryError as refused:
        error = refused
    else:
        result = cached(session, query, seconds=settings.stats_cache_seconds, today=today)
    form = _form(raw, query)
    options = choices(session, seconds=settings.stats_cache_seconds)
    definitions: dict[str, Definition] = {d.key: d for d in (result.definitions if result else ()) or DEFINITIONS}
    context: dict[str, Any] = {
        "form": form,
        "date_types": {
            name: "date" if not form[name] or ISO_DAY.match(form[name]) else "text" for name in ("from", "to")
        },
        "error": error,
        "error_param": (error.param or "from") if error else "",
        "choices": options,
        "unknown": _selected_unknown(form, options),
        "presets": _presets(request, t, form, today),
        "result": result,
        "defs": definitions,
        "charts": build_charts(result, t) if result else {},
        "colours": COLOURS,
        "swatch": charts.swatch,
        "links": _links(request, query, t.locale),
        "cache_seconds": t.number(settings.stats_cache_seconds),
        "percent": lambda value: percent(t, value),
        "score": lambda value: score(t, value),
        "month_label": month_label,
    }
    return render(request, "stats/index.html", context, status_code=error.status_code if error else 200)


def _links(request: Request, query: StatsQuery | None, locale: str) -> dict[str, str]:
    """The CSV and JSON of the same filters, names in the reader's language (none while the filters are refused)."""
    if query is None:
        return {}
    params = urlencode({**query.params(), "lang": locale})
    return {
        "csv": f"{request.app.url_path_for('stats_csv')}?{params}",
        "json": f"{request.app.url_path_for('stats_json')}?{params}",
    }
