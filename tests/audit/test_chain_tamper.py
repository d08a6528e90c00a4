"""The audit table edited by hand (issue 16, point 4): each edit, deletion, insertion and reordering made by raw
SQL is named by `portal audit verify` (the command itself, through click's runner), on a database of the test's
own."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import text
from sqlalchemy.engine import Engine

from portal.audit.cli import audit
from portal.kernel.audit import GENESIS, event_hash
from portal.kernel.migrations import upgrade
from portal.kernel.settings import Settings, get_settings
from tests.audit.chain_helpers import cli_env, engine_for, private_url, settings_for, write_events

pytestmark = pytest.mark.db


@dataclass
class Chain:
    engine: Engine
    env: dict[str, str]

    def fresh(self, count: int = 6) -> dict[int, int]:
        """An intact chain of `count` events; their ids by seq."""
        with self.engine.begin() as connection:
            connection.execute(text("DELETE FROM auditevent"))
            connection.execute(text("UPDATE audithead SET seq = 0, hash = :h"), {"h": GENESIS})
        write_events(self.engine, "tamper", count)
        with self.engine.connect() as connection:
            return {seq: id_ for seq, id_ in connection.execute(text("SELECT seq, id FROM auditevent"))}

    def sql(self, statement: str, **params: object) -> None:
        with self.engine.begin() as connection:
            connection.execute(text(statement), params)

    def verify(self, *args: str) -> Result:
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(audit, ["verify", *args], env=self.env)
        finally:
            get_settings.cache_clear()


@pytest.fixture(scope="module")
def chain(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    with private_url(tmp_path_factory.mktemp("tamper"), "chain_tamper") as url:
        own = settings_for(settings, url)
        upgrade(url)
        engine = engine_for(own)
        try:
            yield Chain(engine, cli_env(own))
        finally:
            engine.dispose()


def broken(result: Result, what: str, *names: str) -> str:
    assert result.exit_code == 1, result.output
    line = result.stdout.strip()
    assert line.startswith(f"chain broken ({what}):"), line
    for name in names:
        assert name in line, line
    return line


def test_intact(chain: Chain) -> None:
    chain.fresh()
    result = chain.verify()
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "chain intact: 6 events"
    assert chain.verify("--from-seq", "4").stdout.strip() == "chain intact: 3 events"
    refused = chain.verify("--from-seq", "9")
    assert refused.exit_code == 2 and "6 events" in refused.stderr


def test_an_edited_detail_is_named(chain: Chain) -> None:
    ids = chain.fresh()
    chain.sql("UPDATE auditevent SET detail = :d WHERE id = :id", d='{"tag": "tamper", "n": 99}', id=ids[3])
    broken(chain.verify(), "edited", f"event seq 3 (id {ids[3]})", "content no longer matches its hash")
    # The walk from a later seq does not see it.
    assert chain.verify("--from-seq", "4").exit_code == 0


def test_an_edited_column_is_named(chain: Chain) -> None:
    ids = chain.fresh()
    chain.sql("UPDATE auditevent SET outcome = 'refused' WHERE id = :id", id=ids[5])
    broken(chain.verify(), "edited", f"event seq 5 (id {ids[5]})")


def test_a_deleted_event_is_named(chain: Chain) -> None:
    ids = chain.fresh()
    chain.sql("DELETE FROM auditevent WHERE id = :id", id=ids[3])
    broken(chain.verify(), "deleted", f"event seq 4 (id {ids[4]})", "1 event(s) deleted before it (seq 3 missing)")


def test_the_last_events_deleted_are_seen_from_the_head(chain: Chain) -> None:
    chain.fresh()
    chain.sql("DELETE FROM auditevent WHERE seq >= 5")
    broken(chain.verify(), "deleted", "head says seq 6 but the last event is seq 4")


def _forge(chain: Chain, seq: int, prev_hash: str, *, id_: int) -> None:
    """An event inserted by SQL by someone who knows the encoding: its own hash is right."""
    at = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
    fields = {
        "seq": seq,
        "prev_hash": prev_hash,
        "at": at,
        "kind": "signin",
        "outcome": "ok",
        "account_id": "forged",
        "client_id": None,
        "ip": None,
        "user_agent": None,
        "detail": {},
        "dossier_id": None,
        "actor_kind": None,
        "actor": None,
        "agency_code": None,
        "purpose": None,
    }
    chain.sql(
        "INSERT INTO auditevent (id, seq, prev_hash, hash, at, kind, outcome, account_id, detail)"
        " VALUES (:id, :seq, :prev, :hash, :at, 'signin', 'ok', 'forged', '{}')",
        id=id_,
        seq=seq,
        prev=prev_hash,
        hash=event_hash(fields),
        at="2026-12-07 03:00:00.000000" if chain.engine.dialect.name == "sqlite" else at,
    )


def _hash(chain: Chain, seq: int) -> str:
    with chain.engine.connect() as connection:
        return str(connection.execute(text("SELECT hash FROM auditevent WHERE seq = :s"), {"s": seq}).scalar())


def test_an_event_inserted_outside_the_chain_is_named(chain: Chain) -> None:
    ids = chain.fresh()
    forged = max(ids.values()) + 1000
    chain.sql(
        "INSERT INTO auditevent (id, at, kind, outcome, detail) VALUES (:id, :at, 'signin', 'ok', '{}')",
        id=forged,
        at=datetime(2026, 12, 7, 3, 0, tzinfo=UTC),
    )
    broken(chain.verify(), "not chained", f"event id {forged} is not chained")


def test_an_event_inserted_in_the_middle_is_named(chain: Chain) -> None:
    ids = chain.fresh()
    for seq in (6, 5, 4):  # make room at seq 4 (one row at a time: seq is unique)
        chain.sql("UPDATE auditevent SET seq = seq + 1 WHERE seq = :s", s=seq)
    chain.sql("UPDATE audithead SET seq = 7")
    forged = max(ids.values()) + 1000
    _forge(chain, 4, _hash(chain, 3), id_=forged)
    broken(chain.verify(), "inserted", f"event seq 4 (id {forged}) was inserted")


def test_an_event_appended_past_the_head_is_named(chain: Chain) -> None:
    ids = chain.fresh()
    forged = max(ids.values()) + 1000
    _forge(chain, 7, _hash(chain, 6), id_=forged)
    broken(chain.verify(), "inserted", f"event seq 7 (id {forged}) was inserted: beyond the chain head (seq 6)")


def test_two_swapped_events_are_named(chain: Chain) -> None:
    ids = chain.fresh()
    chain.sql("UPDATE auditevent SET seq = -1 WHERE seq = 3")
    chain.sql("UPDATE auditevent SET seq = 3 WHERE seq = 4")
    chain.sql("UPDATE auditevent SET seq = 4 WHERE seq = -1")
    broken(
        chain.verify(),
        "reordered",
        f"event seq 3 (id {ids[4]}) was reordered: it was written right after event id {ids[3]}, which is now seq 4",
    )


def test_an_edited_head_is_named(chain: Chain) -> None:
    ids = chain.fresh()
    chain.sql("UPDATE audithead SET hash = :h", h="f" * 64)
    broken(chain.verify(), "head", f"event seq 6 (id {ids[6]})", "the head was edited")
