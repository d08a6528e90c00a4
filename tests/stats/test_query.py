"""The statistics computed in SQL against figures counted by hand (tests/stats/dataset.py), and the filters
refused with a clear message."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import pytest
from sqlmodel import Session

from portal.kernel.i18n import Translator
from portal.stats import query as stats
from portal.stats.figures import DEFINITIONS, MAX_PERIOD_DAYS, Figures, StatsQuery, StatsQueryError
from tests.stats.dataset import (
    EXPECTED,
    EXPECTED_AGENCY_RANKING,
    EXPECTED_MONTHLY,
    PERIOD_FROM,
    PERIOD_TO,
    Dataset,
)

pytestmark = pytest.mark.db


def period(**filters: str) -> StatsQuery:
    return StatsQuery(date_from=PERIOD_FROM, date_to=PERIOD_TO, **filters)


def test_figures_match_the_hand_count(session: Session, data: Dataset) -> None:
    result = stats.compute(session, period(field=data.field))
    assert result.figures == EXPECTED
    assert result.monthly == EXPECTED_MONTHLY


def test_rankings_by_on_time_rate(session: Session, data: Dataset) -> None:
    result = stats.compute(session, period(field=data.field))
    suffix = data.agency_a[1:]
    got = [(r.code, r.resolved, r.early, r.on_time, r.late, r.on_time_rate) for r in result.agencies]
    assert got == [(letter + suffix, *rest) for letter, *rest in EXPECTED_AGENCY_RANKING]
    assert [r.rank for r in result.agencies] == [1, 2]
    assert result.agencies[0].name_vi == f"Cơ quan B {suffix}"
    assert [(r.code, r.resolved, r.on_time_rate) for r in result.procedures] == [
        (data.procedure_b, 1, 100.0),
        (data.procedure_a, 6, 66.67),
    ]


def test_agency_and_procedure_filters(session: Session, data: Dataset) -> None:
    only_a = stats.compute(session, period(agency=data.agency_a)).figures
    assert (only_a.received, only_a.resolved, only_a.early, only_a.on_time, only_a.late) == (10, 6, 1, 3, 2)
    assert only_a.on_time_rate == 66.67
    only_b = stats.compute(session, period(procedure=data.procedure_b)).figures
    assert (only_b.received, only_b.resolved, only_b.early, only_b.in_process, only_b.fees_collected) == (1, 1, 1, 0, 0)
    assert only_b.ratings == 0 and all(s.average is None for s in only_b.satisfaction)


def test_one_day_periods_judge_local_days(session: Session, data: Dataset) -> None:
    # D12's result came at 00:10 on 1 March (local): still 28 February in UTC.
    first = stats.compute(session, StatsQuery(date(2019, 3, 1), date(2019, 3, 1), field=data.field))
    assert (first.figures.resolved, first.figures.on_time) == (1, 1)
    before = stats.compute(session, StatsQuery(date(2019, 2, 28), date(2019, 2, 28), field=data.field))
    assert before.figures.resolved == 0
    # D6 was received at 00:30 on 1 April (local): April's, not March's.
    april_first = stats.compute(session, StatsQuery(date(2019, 4, 1), date(2019, 4, 1), field=data.field))
    assert april_first.figures.received == 1
    assert [p.month for p in april_first.monthly] == ["2019-04"]


def test_an_empty_period_has_no_percentages(session: Session, data: Dataset) -> None:
    result = stats.compute(session, StatsQuery(date(2018, 1, 1), date(2018, 12, 31), field=data.field))
    figures = result.figures
    assert figures.received == figures.resolved == 0
    assert figures.on_time_rate is None and figures.supplement_rate is None and figures.early_percent is None
    assert len(result.monthly) == 12 and all(p.received == 0 for p in result.monthly)
    assert result.agencies == () and result.procedures == ()


def test_in_process_at_an_earlier_end(session: Session, data: Dataset) -> None:
    # At the end of 10 March: D2 (result on the 11th), D4, D3 (result on the 14th) and D13 (the 12th) were open.
    result = stats.compute(session, StatsQuery(date(2019, 3, 1), date(2019, 3, 10), field=data.field))
    assert result.figures.in_process == 4


def test_every_figure_and_series_has_a_definition() -> None:
    keys = {d.key for d in DEFINITIONS}
    assert {"received", "resolved", "early", "on_time", "late", "on_time_rate", "in_process", "overdue_now"} <= keys
    assert {"supplement_rate", "returned_by_post", "fees_collected", "satisfaction", "monthly", "ranking"} <= keys
    assert set(keys) - {"monthly", "ranking"} <= {f for f in Figures.__dataclass_fields__}
    vi = Translator("vi")
    assert all(d.text and d.title for d in DEFINITIONS)
    assert vi(DEFINITIONS[0].title)  # translates (or falls back to English): never empty


# -- the filters


def parse(session: Session, params: Mapping[str, str | list[str]] | None = None, strict: bool = False) -> StatsQuery:
    return stats.parse_query(session, params or {}, today=date(2026, 6, 15), strict=strict)


def refused(session: Session, params: Mapping[str, str | list[str]], strict: bool = False) -> StatsQueryError:
    with pytest.raises(StatsQueryError) as caught:
        parse(session, params, strict)
    assert caught.value.status_code == 422
    return caught.value


def test_defaults_and_date_spellings(session: Session, data: Dataset) -> None:
    assert parse(session) == StatsQuery(date(2026, 1, 1), date(2026, 6, 15))
    assert parse(session, {"to": "2025-03-31"}) == StatsQuery(date(2025, 1, 1), date(2025, 3, 31))
    assert parse(session, {"from": "01/03/2019", "to": "30/4/2019"}) == StatsQuery(PERIOD_FROM, PERIOD_TO)
    empty = parse(session, {"from": "", "agency": "", "field": " ", "procedure": ""})
    assert empty == StatsQuery(date(2026, 1, 1), date(2026, 6, 15))
    full = parse(
        session, {"agency": data.agency_a, "field": data.field, "procedure": data.procedure_a, "other": "ignored"}
    )
    assert (full.agency, full.field, full.procedure) == (data.agency_a, data.field, data.procedure_a)


@pytest.mark.parametrize(
    ("params", "param", "english"),
    [
        ({"from": "2019-04-30", "to": "2019-03-01"}, "from", "The period is reversed: it starts on 30/04/2019"),
        ({"from": "2010-01-01", "to": "2019-12-31"}, "from", "The period is too long: at most 5 years"),
        ({"from": "yesterday"}, "from", "The start date is not a date"),
        ({"to": "2019-02-30"}, "to", "The end date is not a date"),
        ({"to": "2019-13-01"}, "to", "The end date is not a date"),
        ({"from": "1789-07-14"}, "from", "Dates must be between 01/01/1990 and 31/12/2100"),
        ({"agency": "NOPE"}, "agency", "There is no agency with the code NOPE."),
        ({"field": "Không có"}, "field", "There is no field of procedures called Không có."),
        ({"procedure": "9.999999"}, "procedure", "There is no procedure with the code 9.999999."),
        ({"agency": "x" * 5000}, "agency", "There is no agency with the code xxxxx"),
        ({"agency": "A\x00B"}, "agency", "There is no agency with the code A?B."),
        ({"agency": ["A", "B"]}, "agency", "The filter agency is given more than once."),
    ],
)
def test_bad_filters_are_refused_clearly(
    session: Session, params: dict[str, str | list[str]], param: str, english: str
) -> None:
    error = refused(session, params)
    assert error.param == param
    assert Translator("en")(error.message, error.params).startswith(english)
    assert len(Translator("en")(error.message, error.params)) < 200


def test_filters_that_disagree(session: Session, data: Dataset) -> None:
    error = refused(session, {"agency": data.agency_b, "procedure": data.procedure_a})
    assert error.param == "procedure"
    assert "is not handled by the agency" in Translator("en")(error.message, error.params)
    other_field = refused(session, {"field": "Hộ tịch", "procedure": data.procedure_a})
    assert "is not in the field" in Translator("en")(other_field.message, other_field.params)


def test_strict_refuses_unknown_parameters(session: Session) -> None:
    error = refused(session, {"form": "2019-01-01"}, strict=True)
    assert "Unknown parameter form" in Translator("en")(error.message, error.params)


def test_the_longest_period_is_accepted(session: Session) -> None:
    start = date(2020, 1, 1)
    end = date.fromordinal(start.toordinal() + MAX_PERIOD_DAYS - 1)
    assert parse(session, {"from": start.isoformat(), "to": end.isoformat()}).date_to == end


# -- the cache


def test_cached_answers_within_the_ttl(session: Session, data: Dataset) -> None:
    stats.clear_cache()
    query = period(field=data.field)
    first = stats.cached(session, query, seconds=60)
    assert stats.cached(session, query, seconds=60) is first
    assert stats.cached(session, query, seconds=0) is not first  # 0: never kept
    other = stats.cached(session, period(agency=data.agency_b), seconds=60)
    assert other is not first and other.figures.resolved == 1
    stats.clear_cache()
    assert stats.cached(session, query, seconds=60) is not first


def test_choices_list_the_filters(session: Session, data: Dataset) -> None:
    found = stats.choices(session)
    assert data.agency_a in {c.value for c in found.agencies}
    assert data.field in {c.value for c in found.fields}
    assert {data.procedure_a, data.procedure_b} <= {c.value for c in found.procedures}
