"""An in-memory copy of the catalogue: it changes only through `portal catalog load`.

Catalogue pages read this snapshot instead of querying the database on every request. It is reloaded
(on a worker thread) when older than `catalog_refresh_seconds`, so a reload shows within that time.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlmodel import col, select
from starlette.concurrency import run_in_threadpool

from portal.catalog.models import Agency, Procedure
from portal.kernel.uow import unit_of_work


@dataclass(frozen=True)
class CatalogSnapshot:
    """Active procedures sorted by Vietnamese name, agencies, and the fields in use."""

    procedures: tuple[Procedure, ...]
    agencies: dict[str, Agency]
    fields: tuple[tuple[str, str], ...]
    by_code: dict[str, Procedure] = field(default_factory=dict)
    by_slug: dict[str, Procedure] = field(default_factory=dict)

    def find(self, code_or_slug: str) -> Procedure | None:
        return self.by_code.get(code_or_slug) or self.by_slug.get(code_or_slug)

    def search(self, terms: list[str], *, agency: str = "", field_vi: str = "", level: str = "") -> list[Procedure]:
        """Procedures whose folded text holds every term, filtered like the catalogue form."""
        return [
            p
            for p in self.procedures
            if all(t in p.search_text for t in terms)
            and (not agency or p.agency_code == agency)
            and (not field_vi or p.field_vi == field_vi)
            and (level not in ("full", "partial") or p.level == level)
        ]


def load_snapshot(engine: Engine) -> CatalogSnapshot:
    """Read the whole active catalogue once (a few thousand rows at most)."""
    with unit_of_work(engine) as session:
        procs = session.exec(select(Procedure).where(Procedure.active == True).order_by(col(Procedure.name_vi))).all()
        agencies = session.exec(select(Agency)).all()
        session.expunge_all()
    return CatalogSnapshot(
        procedures=tuple(procs),
        agencies={a.code: a for a in sorted(agencies, key=lambda a: a.name_vi)},
        fields=tuple(sorted({(p.field_vi, p.field_en) for p in procs})),
        by_code={p.code: p for p in procs},
        by_slug={p.slug: p for p in procs},
    )


class CatalogCache:
    """Hands out the current snapshot; at most one reload at a time."""

    def __init__(self, engine: Engine, refresh_seconds: float) -> None:
        self.engine, self.refresh_seconds = engine, refresh_seconds
        self._snapshot: CatalogSnapshot | None = None
        self._loaded_at: float | None = None
        self._lock = threading.Lock()

    def _reload(self) -> CatalogSnapshot:
        with self._lock:
            if self._snapshot is None or self._stale():
                self._snapshot = load_snapshot(self.engine)
                self._loaded_at = time.monotonic()
            return self._snapshot

    def _stale(self) -> bool:
        return self._loaded_at is None or time.monotonic() - self._loaded_at >= self.refresh_seconds

    def invalidate(self) -> None:
        """Reload at the next request (monotonic time starts near 0 at boot, so no sentinel time is safe)."""
        self._loaded_at = None

    async def current(self) -> CatalogSnapshot:
        """The snapshot, reloaded on a worker thread when it is too old."""
        if self._snapshot is not None and not self._stale():
            return self._snapshot
        return await run_in_threadpool(self._reload)
