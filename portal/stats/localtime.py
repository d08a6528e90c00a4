"""Local (Asia/Ho_Chi_Minh) days and months of UTC timestamp columns, in SQL on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Date, String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from portal.kernel.calendar import TZ


class LocalDay(FunctionElement[date]):
    """The local (Asia/Ho_Chi_Minh) calendar date of a UTC timestamp column."""

    type = Date()
    inherit_cache = True


class LocalMonth(FunctionElement[str]):
    """The local month "YYYY-MM" of a UTC timestamp column."""

    type = String()
    inherit_cache = True


@compiles(LocalDay, "sqlite")
def _local_day_sqlite(element: LocalDay, compiler: SQLCompiler, **kw: Any) -> str:
    return f"date({compiler.process(element.clauses, **kw)}, '+7 hours')"


@compiles(LocalDay, "postgresql")
def _local_day_pg(element: LocalDay, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(({compiler.process(element.clauses, **kw)} AT TIME ZONE '{TZ.key}') AS DATE)"


@compiles(LocalMonth, "sqlite")
def _local_month_sqlite(element: LocalMonth, compiler: SQLCompiler, **kw: Any) -> str:
    return f"strftime('%Y-%m', {compiler.process(element.clauses, **kw)}, '+7 hours')"


@compiles(LocalMonth, "postgresql")
def _local_month_pg(element: LocalMonth, compiler: SQLCompiler, **kw: Any) -> str:
    return f"to_char(({compiler.process(element.clauses, **kw)} AT TIME ZONE '{TZ.key}'), 'YYYY-MM')"
