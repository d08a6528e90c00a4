"""The data of the statistics benchmark: a PostgreSQL database migrated to head with the catalogue, a few thousand
applicant accounts and N dossiers received over one year, in realistic proportions.

    .venv/bin/python -m bench.stats_data                      # 1,000,000 dossiers into bench_stats
    .venv/bin/python -m bench.stats_data --dossiers 100000 --help

What it makes (every row in set-based SQL: `INSERT ... SELECT` from `generate_series`, seeded, so the same
arguments make the same data):

1. drops and creates the database (`--url`, default postgresql://postgres@127.0.0.1:5432/bench_stats: it must
   be a database of its own), runs `portal migrate` and `portal catalog load` with `PORTAL_DATABASE_URL`, as a
   deployment does;
2. `--accounts` applicant accounts, and `--dossiers` dossiers received on the `--days` local days up to `--end`
   (default yesterday), working hours, spread over the catalogue's procedures by a fixed weight per procedure
   (certifications and civil status first; a procedure not in the table weighs 5) and so over their agencies;
   70 % online, 30 % at the counter;
3. their lives, judged as portal.dossiers.deadline judges them: 2.5 % rejected and 1 % withdrawn a few days
   after reception; 8 % get a supplement request and a `DossierPause` of 2 to 13 days that moves the official
   date (still open if it has not ended); the others get a result early (44 %), on the official date (53 %) or
   1 to 10 days late (3 %, seven in ten of them with a `DossierApology` and its new date), unless that is still
   in the future (then received or in process, overdue once the official date has passed); results are handed
   over online, at the centre or by post (`handover`, post with a delivery `postal_order`), completed with the
   stored timeliness; 10 % of online dossiers have a postal pickup of their originals; online dossiers of a
   procedure with fees paid them (`payment`, succeeded), refunded when rejected or withdrawn (`refund`); a
   quarter of the completed ones are rated (`dossierrating`, five criteria); timeline events (`dossierevent`)
   for each step (about six per dossier);
4. inserts the dossiers in the order they were received and each kind of event in time order, as a live
   table grows (the newest rows together at the end: what index range scans and the planner's correlation see);
   drops the secondary indexes of the filled tables before the load and builds them again after it, then
   `VACUUM ANALYZE`; foreign keys are not checked during the load (`session_replication_role = replica`: the
   rows are consistent by construction);
5. marks the database (`COMMENT ON DATABASE`) with its arguments, so `bench.stats` reuses it when they match.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/bench_stats"
TZ = "Asia/Ho_Chi_Minh"
MARK = "bench.stats_data v2"  # v2: rows in time order

# Share of the dossiers of each procedure (relative weights); a catalogue procedure not listed weighs DEFAULT_WEIGHT.
WEIGHTS = {
    "2.000815": 30,  # certified copies
    "1.001193": 20,  # birth registration
    "1.004873": 12,  # marital status
    "3.000333": 10,  # judicial record
    "3.000347": 10,  # driving licence
    "1.000894": 5,  # marriage registration
    "1.001612": 5,  # household business
    "2.001610": 3,  # enterprise
    "1.013225": 3,  # building permit
    "1.014199": 2,  # work permit
}
DEFAULT_WEIGHT = 5

FILLED = (
    "account",
    "dossier",
    "dossierevent",
    "supplementrequest",
    "dossierpause",
    "dossierapology",
    "dossierrating",
    "payment",
    "refund",
    "postal_order",
)


@dataclass(frozen=True)
class Spec:
    dossiers: int
    accounts: int
    days: int
    end: date
    seed: float

    def mark(self) -> str:
        return (
            f"{MARK} dossiers={self.dossiers} accounts={self.accounts} days={self.days} end={self.end.isoformat()} "
            f"seed={self.seed}"
        )

    @property
    def first(self) -> date:
        return self.end - timedelta(days=self.days - 1)


def psycopg_url(url: str) -> str:
    """The libpq form of a SQLAlchemy URL (postgresql+psycopg://... → postgresql://...)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def sqlalchemy_url(url: str) -> str:
    return psycopg_url(url).replace("postgresql://", "postgresql+psycopg://", 1)


def _admin_url(url: str) -> tuple[str, str]:
    """The URL of the server's `postgres` database and the name of ours."""
    base, _, name = psycopg_url(url).rpartition("/")
    name = name.split("?", 1)[0]
    if not name or not name.replace("_", "").isalnum():
        raise SystemExit(f"bench: {url!r} does not name a database")
    return f"{base}/postgres", name


def current_mark(url: str) -> str | None:
    """The mark of the database at `url` (None if it does not exist or has none)."""
    admin, name = _admin_url(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
    return row[0] if row else None


def recreate(url: str) -> None:
    admin, name = _admin_url(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def migrate_and_load_catalogue(url: str) -> None:
    """`portal migrate` and `portal catalog load`, as a deployment runs them (PORTAL_* from here only)."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")},
        "PORTAL_DATABASE_URL": sqlalchemy_url(url),
        "PORTAL_ENVIRONMENT": "test",
        "PORTAL_SECRET_KEY": secrets.token_urlsafe(36),
    }
    portal = str(Path(sys.executable).with_name("portal"))
    for sub in (["migrate"], ["catalog", "load"]):
        done = subprocess.run([portal, *sub], env=env, cwd=ROOT, capture_output=True, text=True, check=False)
        if done.returncode:
            raise SystemExit(f"bench: portal {' '.join(sub)} failed:\n{done.stdout}\n{done.stderr}")


# --------------------------------------------------------------------------- the SQL

PROCEDURES = """
CREATE UNLOGGED TABLE bench_proc AS
SELECT code, agency_code, form_id, form_version, deadline_days,
       (SELECT coalesce(sum((f ->> 'amount')::int), 0) FROM json_array_elements(fees) AS f) AS fee,
       0.0::float8 AS weight, 0.0::float8 AS cum_lo, 0.0::float8 AS cum_hi
FROM procedure
"""

CUMULATE = """
UPDATE bench_proc AS p SET cum_lo = c.hi - c.w, cum_hi = c.hi
FROM (SELECT code, weight / sum(weight) OVER () AS w,
             sum(weight) OVER (ORDER BY code) / sum(weight) OVER () AS hi FROM bench_proc) AS c
WHERE c.code = p.code
"""

# One row per dossier with everything the inserts need. Times are local working hours turned into timestamptz;
# "now" is fixed once (%(now)s) so the data does not depend on how long the load takes.
GEN = """
CREATE UNLOGGED TABLE bench_gen AS
WITH r AS (
    SELECT i, random() AS r_proc, random() AS r_chan, random() AS r_day, random() AS r_time, random() AS r_fate,
           random() AS r_speed, random() AS r_done, random() AS r_supp, random() AS r_pause, random() AS r_post,
           random() AS r_hand, random() AS r_rate, random() AS r_acc, random() AS r_late, random() AS r_when
    FROM generate_series(1, %(n)s) AS i
), a AS (
    SELECT r.*, p.code AS procedure_code, p.agency_code, p.form_id, p.form_version, p.deadline_days, p.fee,
           CASE WHEN r.r_chan < 0.7 THEN 'online' ELSE 'counter' END AS channel,
           %(first)s::date + floor(r.r_day * %(days)s)::int AS received_day,
           CASE WHEN r.r_fate < 0.025 THEN 'rejected' WHEN r.r_fate < 0.035 THEN 'withdrawn' ELSE 'processed' END
               AS fate
    FROM r JOIN bench_proc AS p ON r.r_proc >= p.cum_lo AND r.r_proc < p.cum_hi
), b AS (
    SELECT a.*,
           ((a.received_day + time '07:30' + a.r_time * interval '9 hours 30 minutes') AT TIME ZONE %(tz)s)
               AS received_at,
           a.received_day + ceil(a.deadline_days * 7 / 5.0)::int AS base_due,
           (a.fate = 'processed' AND a.r_supp < 0.08) AS supplement,
           2 + floor(a.r_pause * 12)::int AS pause_days
    FROM a
), c AS (
    SELECT b.*,
           b.received_at + interval '1 day' + b.r_pause * interval '6 hours' AS supp_at,
           b.received_at + interval '1 day' + b.r_pause * interval '6 hours' + b.pause_days * interval '1 day'
               AS supp_end,
           b.base_due + CASE WHEN b.supplement THEN b.pause_days ELSE 0 END AS official,
           least(b.received_at + (1 + floor(b.r_done * 3)) * interval '1 day', %(now)s - interval '1 minute')
               AS closed_at
    FROM b
), d AS (
    SELECT c.*,
           (c.supplement AND c.supp_end > %(now)s) AS paused_open,
           CASE WHEN c.r_speed < 0.44 THEN c.received_day + floor(c.r_done * (c.official - c.received_day))::int
                WHEN c.r_speed < 0.97 THEN c.official
                ELSE c.official + 1 + floor(c.r_done * 10)::int END AS planned_day
    FROM c
), e AS (
    SELECT d.*,
           CASE WHEN d.supplement
                THEN greatest(((d.planned_day + time '08:00' + d.r_when * interval '9 hours') AT TIME ZONE %(tz)s),
                              d.supp_end + interval '1 hour')
                ELSE ((d.planned_day + time '08:00' + d.r_when * interval '9 hours') AT TIME ZONE %(tz)s) END
               AS result_at,
           CASE WHEN d.channel = 'online' THEN
                    CASE WHEN d.r_hand < 0.15 THEN 'post' WHEN d.r_hand < 0.45 THEN 'online' ELSE 'centre' END
                ELSE CASE WHEN d.r_hand < 0.08 THEN 'post' ELSE 'centre' END END AS handover
    FROM d
), f AS (
    SELECT e.*,
           (e.fate = 'processed' AND NOT e.paused_open AND e.result_at <= %(now)s) AS ready,
           (e.result_at AT TIME ZONE %(tz)s)::date AS result_day,
           e.result_at + CASE e.handover WHEN 'online' THEN interval '10 minutes'
                                         WHEN 'post' THEN interval '2 days' + e.r_late * interval '2 days'
                                         ELSE e.r_late * interval '5 days' END AS completed_at
    FROM e
)
SELECT f.*,
       (f.ready AND f.completed_at <= %(now)s) AS completed,
       CASE WHEN f.fate <> 'processed' THEN f.fate
            WHEN f.paused_open THEN 'supplement_requested'
            WHEN NOT f.ready THEN CASE WHEN f.r_done < 0.15 THEN 'received' ELSE 'in_process' END
            WHEN f.completed_at > %(now)s THEN 'result_ready'
            ELSE 'completed' END AS status,
       CASE WHEN f.result_day < f.official THEN 'early' WHEN f.result_day = f.official THEN 'on_time'
            ELSE 'late' END AS judged,
       (f.fate = 'processed' AND f.r_speed >= 0.97 AND f.r_late < 0.7
        AND ((f.official - 1 + time '10:00') AT TIME ZONE %(tz)s) <= %(now)s) AS apology,
       f.official + 3 + floor(f.r_late * 5)::int AS new_date,
       (f.channel = 'online' AND f.r_post < 0.10) AS pickup,
       (f.channel = 'online' AND f.fee > 0) AS paid,
       md5('bench-dossier-' || f.i) AS id,
       md5('bench-account-' || (1 + floor(f.r_acc * %(accounts)s)::int)) AS applicant_id
FROM f
"""

ACCOUNTS = """
INSERT INTO account (id, email, phone, full_name, created_at, failed_signins)
SELECT md5('bench-account-' || i), 'bench' || i || '@bench.invalid', '09' || lpad(i::text, 8, '0'),
       'Người dùng thử ' || i, %(now)s - interval '2 years', 0
FROM generate_series(1, %(accounts)s) AS i
"""

DOSSIERS = """
INSERT INTO dossier (id, code, procedure_code, agency_code, applicant_id, status, form_id, form_version, data,
                     answers_checked, delivery_method, created_at, updated_at, submitted_at, due_date, channel,
                     intake_officer, received_at, received_by, official_due_date, result_ready_at, completed_at,
                     handover, timeliness, overdue_at, change_seq, pay_on_delivery)
SELECT g.id, g.agency_code || '-' || to_char(g.received_day, 'YYMMDD') || '-' || lpad(g.i::text, 7, '0'),
       g.procedure_code, g.agency_code, g.applicant_id, g.status, g.form_id, g.form_version, '{}'::json,
       true, CASE WHEN g.handover = 'post' THEN 'post' ELSE 'centre' END,
       g.received_at - interval '2 hours',
       CASE WHEN g.fate <> 'processed' THEN g.closed_at
            WHEN g.completed THEN g.completed_at WHEN g.ready THEN g.result_at ELSE g.received_at END,
       CASE WHEN g.channel = 'online' THEN g.received_at - interval '1 hour' END,
       CASE WHEN g.apology THEN g.new_date ELSE g.official END,
       g.channel,
       CASE WHEN g.channel = 'counter' THEN 'Cán bộ một cửa' END,
       g.received_at, 'Cán bộ tiếp nhận', g.official,
       CASE WHEN g.ready THEN g.result_at END,
       CASE WHEN g.completed THEN g.completed_at END,
       CASE WHEN g.completed THEN g.handover END,
       CASE WHEN g.completed THEN g.judged END,
       CASE WHEN g.fate = 'processed' AND NOT g.paused_open
                 AND ((NOT g.ready AND g.official < %(today)s) OR (g.ready AND g.result_day > g.official))
            THEN ((g.official + 1)::timestamp AT TIME ZONE %(tz)s) END,
       g.i, false
FROM bench_gen AS g
ORDER BY g.received_at
"""

SUPPLEMENTS = """
INSERT INTO supplementrequest (id, dossier_id, requested_at, requested_by, message, items, answered_at, answered_by)
SELECT md5('bench-supplement-' || g.i), g.id, g.supp_at, 'Cán bộ thụ lý',
       'Đề nghị bổ sung bản sao giấy tờ còn thiếu.', '[]'::json,
       CASE WHEN NOT g.paused_open THEN g.supp_end END, CASE WHEN NOT g.paused_open THEN 'applicant' END
FROM bench_gen AS g WHERE g.supplement
"""

PAUSES = """
INSERT INTO dossierpause (dossier_id, supplement_id, started_at, ended_at)
SELECT g.id, md5('bench-supplement-' || g.i), g.supp_at, CASE WHEN NOT g.paused_open THEN g.supp_end END
FROM bench_gen AS g WHERE g.supplement
"""

APOLOGIES = """
INSERT INTO dossierapology (dossier_id, at, by, reason, previous_date, new_date)
SELECT g.id, (g.official - 1 + time '10:00') AT TIME ZONE %(tz)s, 'Lãnh đạo cơ quan',
       'Hồ sơ cần xác minh thêm.', g.official, g.new_date
FROM bench_gen AS g WHERE g.apology
"""

RATINGS = """
INSERT INTO dossierrating (dossier_id, account_id, scores, comment, at)
SELECT g.id, g.applicant_id,
       json_build_object('reception', 5 - floor(random() ^ 3 * 4)::int, 'guidance', 5 - floor(random() ^ 3 * 4)::int,
                         'result_correct', 5 - floor(random() ^ 4 * 4)::int,
                         'on_time', CASE g.judged WHEN 'late' THEN 2 + floor(random() * 3)::int
                                                  ELSE 5 - floor(random() ^ 3 * 3)::int END,
                         'fees_as_announced', 5 - floor(random() ^ 5 * 4)::int),
       NULL, least(g.completed_at + g.r_rate * interval '16 days', %(now)s - interval '1 minute')
FROM bench_gen AS g WHERE g.completed AND g.r_rate < 0.25
"""

PAYMENTS = """
INSERT INTO payment (id, reference, order_kind, order_id, account_id, agency_code, gateway, amount, currency,
                     description, lines, reductions, status, gateway_ref, idempotency_key, message, created_at,
                     updated_at, expires_at, settled_at, refunded_amount)
SELECT md5('bench-payment-' || g.i), 'BP' || lpad(g.i::text, 12, '0'), 'dossier', g.id, g.applicant_id,
       g.agency_code, 'sandbox', g.fee, 'VND', 'Phí, lệ phí hồ sơ', '[]'::json, '[]'::json, 'succeeded',
       'SB' || g.i, md5('bench-idempotency-' || g.i), '', g.received_at - interval '70 minutes',
       g.received_at - interval '1 hour', g.received_at - interval '55 minutes', g.received_at - interval '1 hour',
       CASE WHEN g.fate <> 'processed' AND g.r_late < 0.8 THEN g.fee ELSE 0 END
FROM bench_gen AS g WHERE g.paid
"""

REFUNDS = """
INSERT INTO refund (id, payment_id, amount, reason, status, gateway_ref, message, attempts, created_at, settled_at)
SELECT md5('bench-refund-' || g.i), md5('bench-payment-' || g.i), g.fee, g.fate, 'succeeded', 'SBR' || g.i, '', 1,
       g.closed_at, least(g.closed_at + interval '1 day', %(now)s - interval '1 minute')
FROM bench_gen AS g WHERE g.paid AND g.fate <> 'processed' AND g.r_late < 0.8
"""

POSTAL = """
INSERT INTO postal_order (id, number, kind, operator, status, owner_kind, owner_id, reference, tracking_number,
                          province_code, sender, recipient, contents, weight_class, fee, cod_amount, attempts,
                          created_at, updated_at, claimed_at, status_at, delivered_at)
SELECT md5('bench-postal-' || o.kind || '-' || o.i), upper(left(o.kind, 1)) || lpad(o.i::text, 12, '0'), o.kind,
       'vnpost', o.status, 'dossier', o.id, o.code, 'E' || upper(left(o.kind, 1)) || lpad(o.i::text, 10, '0') || 'VN',
       '37', '{}'::json, '{}'::json, '[]'::json, 'document', 20000, 0, 1, o.created, o.status_at, o.created,
       o.status_at, CASE WHEN o.status = 'delivered' THEN o.status_at END
FROM (
    SELECT g.i, g.id, d.code, 'pickup' AS kind, 'delivered' AS status, g.received_at - interval '2 days' AS created,
           g.received_at - interval '3 hours' AS status_at
    FROM bench_gen AS g JOIN dossier AS d ON d.id = g.id WHERE g.pickup
    UNION ALL
    SELECT g.i, g.id, d.code, 'delivery', CASE WHEN g.completed THEN 'delivered' ELSE 'in_transit' END, g.result_at,
           CASE WHEN g.completed THEN g.completed_at ELSE g.result_at + interval '1 hour' END
    FROM bench_gen AS g JOIN dossier AS d ON d.id = g.id WHERE g.ready AND g.handover = 'post'
) AS o
"""

# The timeline: (kind, time, condition) per dossier.
EVENTS = (
    ("submitted", "g.received_at - interval '1 hour'", "g.channel = 'online'"),
    ("registered_at_counter", "g.received_at", "g.channel = 'counter'"),
    ("payment_succeeded", "g.received_at - interval '1 hour'", "g.paid"),
    ("postal_picked_up", "g.received_at - interval '1 day'", "g.pickup"),
    ("received", "g.received_at", "true"),
    ("processing_started", "g.received_at + interval '2 hours'", "g.fate = 'processed'"),
    ("supplement_requested", "g.supp_at", "g.supplement"),
    ("supplement_answered", "g.supp_end", "g.supplement AND NOT g.paused_open"),
    ("apology", "(g.official - 1 + time '10:00') AT TIME ZONE %(tz)s", "g.apology"),
    ("rejected", "g.closed_at", "g.fate = 'rejected'"),
    ("withdrawn", "g.closed_at", "g.fate = 'withdrawn'"),
    (
        "payment_refunded",
        "least(g.closed_at + interval '1 day', %(now)s)",
        "g.paid AND g.fate <> 'processed' AND g.r_late < 0.8",
    ),
    ("result_issued", "g.result_at", "g.ready"),
    ("postal_delivered", "g.completed_at", "g.completed AND g.handover = 'post'"),
    ("completed", "g.completed_at", "g.completed"),
)

EVENT_INSERT = """
INSERT INTO dossierevent (dossier_id, at, kind, actor, details)
SELECT g.id, {at}, '{kind}', 'bench', '{{}}'::json FROM bench_gen AS g WHERE {where} ORDER BY 2
"""

DROPPABLE_INDEXES = """
SELECT i.relname, pg_get_indexdef(i.oid)
FROM pg_index AS x JOIN pg_class AS i ON i.oid = x.indexrelid JOIN pg_class AS t ON t.oid = x.indrelid
WHERE t.relname = ANY(%(tables)s) AND NOT x.indisprimary
  AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conindid = i.oid)
ORDER BY t.relname, i.relname
"""


def _step(conn: psycopg.Connection[Any], label: str, sql: str, params: dict[str, Any]) -> int:
    t0 = time.perf_counter()
    cur = conn.execute(sql, params)  # built from the constants above, never from user text
    rows = cur.rowcount
    print(f"bench:   {label:<28} {rows:>10,} rows  {time.perf_counter() - t0:6.1f} s", flush=True)
    return rows


def fill(url: str, spec: Spec) -> dict[str, int]:
    """Load the rows of `spec` into the migrated database at `url`; the row counts by table."""
    now = datetime.combine(spec.end + timedelta(days=1), datetime.min.time(), tzinfo=ZoneInfo(TZ))
    now = min(now, datetime.now(ZoneInfo(TZ)))
    params: dict[str, Any] = {
        "n": spec.dossiers,
        "accounts": spec.accounts,
        "days": spec.days,
        "first": spec.first,
        "tz": TZ,
        "now": now,
        "today": now.date(),
    }
    counts: dict[str, int] = {}
    with psycopg.connect(psycopg_url(url)) as conn:
        conn.execute("SET session_replication_role = replica")  # no FK triggers: consistent by construction
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("SET work_mem = '256MB'")
        conn.execute("SET max_parallel_workers_per_gather = 0")  # random() in one process: reproducible
        conn.execute("SET jit = off")  # compiling the big INSERT ... SELECTs costs seconds and saves nothing
        indexes = conn.execute(DROPPABLE_INDEXES, {"tables": list(FILLED)}).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        conn.execute(PROCEDURES)
        weights = {
            code: float(WEIGHTS.get(code, DEFAULT_WEIGHT)) for (code,) in conn.execute("SELECT code FROM bench_proc")
        }
        for code, weight in weights.items():
            conn.execute("UPDATE bench_proc SET weight = %s WHERE code = %s", (weight, code))
        conn.execute(CUMULATE)
        conn.execute("SELECT setseed(%s)", (spec.seed,))
        _step(conn, "plan (bench_gen)", GEN, params)
        counts["account"] = _step(conn, "account", ACCOUNTS, params)
        counts["dossier"] = _step(conn, "dossier", DOSSIERS, params)
        counts["supplementrequest"] = _step(conn, "supplementrequest", SUPPLEMENTS, params)
        counts["dossierpause"] = _step(conn, "dossierpause", PAUSES, params)
        counts["dossierapology"] = _step(conn, "dossierapology", APOLOGIES, params)
        counts["dossierrating"] = _step(conn, "dossierrating", RATINGS, params)
        counts["payment"] = _step(conn, "payment", PAYMENTS, params)
        counts["refund"] = _step(conn, "refund", REFUNDS, params)
        counts["postal_order"] = _step(conn, "postal_order", POSTAL, params)
        events = 0
        for kind, at, where in EVENTS:
            events += _step(conn, f"dossierevent {kind}", EVENT_INSERT.format(at=at, kind=kind, where=where), params)
        counts["dossierevent"] = events
        conn.execute("UPDATE dossierchangecounter SET last = %s", (spec.dossiers,))
        conn.execute("DROP TABLE bench_gen")
        conn.execute("DROP TABLE bench_proc")
        conn.commit()
        t0 = time.perf_counter()
        for _, definition in indexes:
            conn.execute(definition)
            conn.commit()
        print(f"bench:   {len(indexes)} indexes rebuilt in {time.perf_counter() - t0:.1f} s", flush=True)
    with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
        t0 = time.perf_counter()
        conn.execute("VACUUM ANALYZE")
        print(f"bench:   VACUUM ANALYZE in {time.perf_counter() - t0:.1f} s", flush=True)
        _, name = _admin_url(url)
        conn.execute(f"COMMENT ON DATABASE \"{name}\" IS '{spec.mark()}'")
    return counts


def generate(url: str, spec: Spec) -> float:
    """Make the database of `spec` at `url` from scratch; the seconds it took."""
    t0 = time.perf_counter()
    print(f"bench: making {spec.mark()} at {psycopg_url(url)}", flush=True)
    recreate(url)
    migrate_and_load_catalogue(url)
    print(f"bench:   migrated and catalogue loaded in {time.perf_counter() - t0:.1f} s", flush=True)
    fill(url, spec)
    took = time.perf_counter() - t0
    print(f"bench: data ready in {took:.0f} s", flush=True)
    return took


def ensure(url: str, spec: Spec, *, regenerate: bool = False) -> float | None:
    """The database of `spec`, reused when its mark matches (None), else made (the seconds it took)."""
    if not regenerate and current_mark(url) == spec.mark():
        print(f"bench: reusing {psycopg_url(url)} ({spec.mark()})", flush=True)
        return None
    return generate(url, spec)


def yesterday() -> date:
    return datetime.now(ZoneInfo(TZ)).date() - timedelta(days=1)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--url", default=DEFAULT_URL, help=f"a database of its own, dropped and made again (default {DEFAULT_URL})"
    )
    p.add_argument("--dossiers", type=int, default=1_000_000, help="dossiers (default 1,000,000)")
    p.add_argument("--accounts", type=int, default=5000, help="applicant accounts (default 5000)")
    p.add_argument("--days", type=int, default=365, help="local days the receptions are spread over (default 365)")
    p.add_argument(
        "--end", type=date.fromisoformat, default=None, help="last local day of receptions (default yesterday)"
    )
    p.add_argument("--seed", type=float, default=0.14, help="setseed() value, -1..1 (default 0.14)")


def spec_of(args: argparse.Namespace) -> Spec:
    return Spec(args.dossiers, args.accounts, args.days, args.end or yesterday(), args.seed)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.stats_data", description=__doc__.splitlines()[0])
    add_arguments(p)
    p.add_argument("--reuse", action="store_true", help="keep the database if it already holds this data")
    args = p.parse_args(argv)
    spec = spec_of(args)
    if args.reuse:
        ensure(args.url, spec)
    else:
        generate(args.url, spec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
