"""What the benchmarks share: CPU time from /proc, a measured phase, percentiles, rounds that interleave the
variants, the machine's facts, the generated sections of docs/PERFORMANCE.md and the temporary directory.

Only the standard library: every benchmark imports it, `make bench-postal` and `make bench-signing` with the
main dependencies only.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import resource
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "PERFORMANCE.md"
DISTURBED_PCT = 25.0  # others' CPU above this (% of one core) during a measurement: the run was disturbed

T = TypeVar("T")


# --------------------------------------------------------------------------- CPU time


CLK_TCK = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy() -> float:
    """CPU seconds all CPUs spent not idle since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


@dataclass
class Phase:
    seconds: float = 0.0
    own_cpu: float = 0.0
    other_cpu_pct: float = 0.0


class Meter:
    """Wall time, this process's CPU and everyone else's CPU over a phase."""

    def __enter__(self) -> Phase:
        self.phase = Phase()
        self.t0, self.cpu0, self.busy0 = time.perf_counter(), time.process_time(), machine_busy()
        return self.phase

    def __exit__(self, *_exc: object) -> None:
        p = self.phase
        p.seconds = time.perf_counter() - self.t0
        p.own_cpu = time.process_time() - self.cpu0
        other = machine_busy() - self.busy0 - p.own_cpu
        p.other_cpu_pct = max(0.0, 100 * other / p.seconds) if p.seconds else 0.0


# --------------------------------------------------------------------------- in-process measurements


def percentile(values: list[float], q: int) -> float:
    """The q-th percentile (inclusive method); the one value, or 0, when there are fewer than two."""
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def timed(fn: Callable[[], T], wall_ms: list[float], cpu_ms: list[float]) -> T:
    """Call `fn`, append its wall time and this process's CPU time (ms) to the lists; return what it returned."""
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    t1, c1 = time.perf_counter(), time.process_time()
    wall_ms.append(1000 * (t1 - t0))
    cpu_ms.append(1000 * (c1 - c0))
    return out


def interleaved(items: Sequence[T], rounds: int, budget: float, each: Callable[[T], object]) -> int:
    """`each` of every item once per round, the starting item rotating, so that a disturbance on a shared machine
    hits them all alike; stop after `rounds` or once `budget` seconds have passed (0: no limit). Returns the rounds
    done."""
    start = time.perf_counter()
    done = 0
    for r in range(rounds):
        if budget and time.perf_counter() - start >= budget:
            break
        for i in range(len(items)):
            each(items[(r + i) % len(items)])
        done += 1
    return done


# --------------------------------------------------------------------------- the machine


def machine_facts(more: dict[str, str]) -> dict[str, str]:
    """Date, CPUs, CPU model and kernel, then `more`, in that order (the order of the doc's "Machine" list)."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": f"{os.cpu_count()} (nproc), {len(os.sched_getaffinity(0))} usable by this process",
        "cpu": model,
        "kernel": platform.release(),
        **more,
    }


def library_versions(*names: str) -> str:
    return ", ".join(f"{name} {importlib.metadata.version(name)}" for name in names)


def in_process_facts(libraries: str) -> dict[str, str]:
    """The facts of an in-process benchmark: the machine, Python, the libraries measured, the load at start."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return machine_facts(
        {
            "python": f"{platform.python_version()} ({platform.python_implementation()})",
            "libraries": libraries,
            "load average at start": f"{load} (1, 5, 15 min)",
        }
    )


# --------------------------------------------------------------------------- output


def section_head(begin: str, command: str, facts: dict[str, str]) -> list[str]:
    """The first lines of a generated section: its marker, how and when it was made."""
    return [begin, "", f"Generated by `{command}` on {facts['date']}.", ""]


def section_tail(facts: dict[str, str], end: str) -> list[str]:
    """The last lines of a generated section: the machine (the date is in the first lines) and its end marker."""
    return ["Machine", "", *[f"- {k}: {v}" for k, v in facts.items() if k != "date"], "", end]


def command_line(command: str, argv: list[str] | None) -> str:
    """How the benchmark was run, for the doc: `command` and the arguments given."""
    return " ".join([command, *(argv if argv is not None else sys.argv[1:])])


def write_section(section: str, begin: str, end: str, intro: str | None) -> None:
    """Replace the part of docs/PERFORMANCE.md from `begin` to `end` (markers included) with `section`. Without
    the markers: append `intro` and the section (the doc is made if it does not exist), or stop if `intro` is
    None."""
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Performance\n"
    if begin in text and end in text:
        head, _, rest = text.partition(begin)
        _, _, tail = rest.partition(end)
        DOC.write_text(head + section + tail, encoding="utf-8")
        return
    if intro is None:
        raise SystemExit(f"{DOC}: the markers {begin!r} … {end!r} are missing")
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text.rstrip() + "\n\n" + intro + section + "\n", encoding="utf-8")


def publish(
    section: str, begin: str, end: str, *, write: bool, intro: str | None, other_cpu_pct: float | None = None
) -> None:
    """Print the section without its markers; warn when others' CPU (% of a core) says the run was disturbed
    (not checked when None); rewrite the doc's section when `write`."""
    print()
    print(section.replace(begin, "").replace(end, "").strip())
    if other_cpu_pct is not None and other_cpu_pct > DISTURBED_PCT:
        print(
            f"\nbench: WARNING: other processes used more than {DISTURBED_PCT:g} % of a core during the run; "
            "the numbers are disturbed",
            flush=True,
        )
    if write:
        write_section(section, begin, end, intro)
        print(f"\nbench: wrote {DOC.relative_to(ROOT)}", flush=True)


def clean_up(tmp: Path, keep: bool) -> None:
    """Remove the benchmark's temporary directory, or say where it is kept."""
    if keep:
        print(f"bench: kept {tmp}", flush=True)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
