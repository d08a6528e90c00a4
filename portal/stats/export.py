"""The statistics as CSV: the same numbers as the page and the JSON, one value per line (a "long" table that
a spreadsheet pivots), UTF-8 with a byte-order mark so that Excel reads the Vietnamese names.

Columns: section, key, name, measure, value. Sections: query (the filters), figures, satisfaction, monthly,
agencies, procedures (the rankings). Numbers are written with a dot for decimals; an empty value is a
percentage or average without a base (nothing to divide).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import fields

from portal.kernel.i18n import N_, Translator
from portal.stats.figures import CriterionScore, Figures, RankingRow, StatsResult

BOM = "\ufeff"
HEADER = ("section", "key", "name", "measure", "value")
# The figures in the order the page shows them, and each one's measure ("count", "percent" or "vnd").
_MEASURES = {
    "early_percent": "percent",
    "on_time_percent": "percent",
    "late_percent": "percent",
    "on_time_rate": "percent",
    "supplement_rate": "percent",
    "feedback_on_time_percent": "percent",
    "fees_paid": "vnd",
    "fees_refunded": "vnd",
    "fees_collected": "vnd",
}
# Names of the figures that have no definition of their own (the others take their definition's title).
_LABELS = {
    "received_online": N_("Received online"),
    "received_postal_pickup": N_("Received online with a postal pickup"),
    "received_counter": N_("Received at the counter"),
    "early_percent": N_("Early (%)"),
    "on_time_percent": N_("On time (%)"),
    "late_percent": N_("Late (%)"),
    "supplement_requested": N_("Dossiers with a supplement request"),
    "fees_paid": N_("Fees paid"),
    "fees_refunded": N_("Fees refunded"),
    "ratings": N_("Ratings"),
    "feedback_on_time_percent": N_("Feedback answered on time (%)"),
}
_RANKING_MEASURES = ("rank", "resolved", "early", "on_time", "late", "on_time_rate")


def _number(value: int | float | None) -> str:
    if value is None:
        return ""
    return str(value)


def rows(result: StatsResult, *, locale: str = "vi") -> Iterator[tuple[str, str, str, str, str]]:
    """The lines of the CSV after its header."""
    t = Translator(locale)
    query = result.query
    for key, value in (
        ("from", query.date_from.isoformat()),
        ("to", query.date_to.isoformat()),
        ("agency", query.agency or ""),
        ("field", query.field or ""),
        ("procedure", query.procedure or ""),
        ("computed_at", result.computed_at.isoformat(timespec="seconds")),
    ):
        yield ("query", key, "", "filter", value)
    titles = {d.key: t(d.title) for d in result.definitions} | {k: t(v) for k, v in _LABELS.items()}
    for item in fields(Figures):
        if item.name == "satisfaction":
            continue
        value = getattr(result.figures, item.name)
        yield ("figures", item.name, titles.get(item.name, ""), _MEASURES.get(item.name, "count"), _number(value))
    score: CriterionScore
    for score in result.figures.satisfaction:
        yield ("satisfaction", score.criterion, t(score.label), "average", _number(score.average))
        yield ("satisfaction", score.criterion, t(score.label), "ratings", _number(score.ratings))
    for point in result.monthly:
        for measure in ("received", "resolved", "early", "on_time", "late"):
            yield ("monthly", point.month, "", measure, _number(getattr(point, measure)))
    ranking: tuple[RankingRow, ...]
    for section, ranking in (("agencies", result.agencies), ("procedures", result.procedures)):
        for row in ranking:
            name = row.name_vi if t.locale == "vi" else row.name_en
            for measure in _RANKING_MEASURES:
                yield (section, row.code, name, measure, _number(getattr(row, measure)))


def to_csv(result: StatsResult, *, locale: str = "vi") -> str:
    """The whole CSV text, BOM first, CRLF line ends (RFC 4180)."""
    buffer = io.StringIO()
    buffer.write(BOM)
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(rows(result, locale=locale))
    return buffer.getvalue()


def filename(result: StatsResult) -> str:
    """e.g. thong-ke-2026-01-01-2026-12-31.csv"""
    return f"thong-ke-{result.query.date_from.isoformat()}-{result.query.date_to.isoformat()}.csv"
