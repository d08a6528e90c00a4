"""Documents the portal issued, found by their SHA-256: "is this file one of ours?".

`/verify` (in `signing/`) answers that question without knowing what a dossier or a payment is: each domain
that issues documents registers a lookup here (the dossier workflow: its receipts, the files submitted with
dossiers, the e-receipts of their fees), and the page asks every lookup in turn.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session

from portal.kernel.plugins import Resettable
from portal.kernel.uow import unit_of_work


@dataclass(frozen=True)
class IssuedDocument:
    """A document the portal holds with a given SHA-256: only what may be shown to anyone."""

    reference: str  # the code printed on it (a dossier code)
    kind: str  # what it is, for the page: "receipt", "e_receipt", "dossier_file", ...
    issued_at: datetime | None
    title: Mapping[str, str]  # by locale: what it concerns (a procedure's name)
    part: Mapping[str, str] | None = None  # by locale: which part of it (a component's name)
    storage_key: str | None = None  # where the portal keeps its own copy, when its signature can be shown


DocumentLookup = Callable[[Session, str, int], Iterable[IssuedDocument]]


class DocumentLookups(Resettable[list[DocumentLookup]]):
    """The registered lookups, asked in the order they were registered."""

    def __init__(self) -> None:
        self._lookups: list[DocumentLookup] = []

    def register(self, lookup: DocumentLookup) -> DocumentLookup:
        """Add a lookup called with (a read-only session, the SHA-256 in lowercase hex, the most to return)."""
        if lookup not in self._lookups:
            self._lookups.append(lookup)
        return lookup

    def snapshot(self) -> list[DocumentLookup]:
        return list(self._lookups)

    def restore(self, state: list[DocumentLookup]) -> None:
        self._lookups = list(state)

    def reset(self) -> None:
        self._lookups = []

    def find(self, engine: Engine, sha256: str, *, limit: int = 10) -> list[IssuedDocument]:
        """Every registered lookup's matches for `sha256`, at most `limit` from each."""
        found: list[IssuedDocument] = []
        with unit_of_work(engine) as session:
            for lookup in self._lookups:
                found.extend(list(lookup(session, sha256, limit))[:limit])
        return found


issued_documents = DocumentLookups()
register_document_lookup = issued_documents.register
