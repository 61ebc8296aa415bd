"""One table for every figure of a run, as Markdown text and as JSON."""

from __future__ import annotations

import math
import os
import platform
import subprocess
from dataclasses import asdict, dataclass
from importlib.metadata import version

from . import paired

COLUMNS = ("section", "scenario", "metric", "A", "B", "B/A", "90 % interval", "pairs", "target", "verdict")
SECTIONS = ("in-process", "gunicorn", "verification", "scale", "unknown token", "floor", "invalidation",
            "memory", "forward-auth")
# What A and B are in each section.
LEGEND = {
    "in-process": (
        "A = bare Flask route, B = the same route wrapped, called directly: this thread's CPU µs per request "
        "(the wall clock also counts the neighbours that take the core); "
        "in e the middleware answers 303 itself, so the app never runs"
    ),
    "gunicorn": (
        "A = bare, B = wrapped, each under gunicorn with 1 sync worker; a pair is a block: a fresh set of "
        "servers of each, loaded in turn request by request (each worker idle between its requests); "
        "judged on the workers' CPU time per request (/proc), B/A ≤ 1/the req/s target (1/0.97, 1/0.95)"
    ),
    "verification": (
        "A = SQLite, B = PostgreSQL: POST verify with a fresh valid code, one per user, "
        "through gunicorn (1 sync worker)"
    ),
    "scale": (
        "A = 1,000 enrolled users and tokens in the store, B = the larger store (CPU µs per request "
        "in-process; verification: wall ms, a commit waits for the disk); "
        "hits: every request inside cache_seconds of a warm cache, misses: cache_seconds = 0"
    ),
    "unknown token": (
        "one well-formed made-up bearer token, in-process: A = cache periods the run spanned, "
        "B = SQL queries the store ran (before_cursor_execute, BEGIN/COMMIT not counted), "
        "B/A = queries per cache period"
    ),
    "floor": (
        "A = the floor (one Fernet decrypt, one TOTP check, the same row lock and writes as bare SQL), "
        "B = TwoFactorService.verify, in-process, on the same database (bench/floor.py)"
    ),
    "invalidation": (
        "a token revoked through gunicorn instance A, seconds until instance B refuses it (PostgreSQL, "
        "bench/invalidation.py); interval of the percentile, n = samples"
    ),
    "memory": "B = memory held by the middleware's caches after that many distinct cookies",
    "forward-auth": (
        "A = nginx proxying to the Node upstream (tests/e2e/upstream.js) directly, B = the same behind "
        "auth_request to the forward-auth app (ForwardAuth under gunicorn, 1 sync worker) as in README's "
        "nginx example; one connection, alternating bursts; p50 added is B - A"
    ),
}
INTERVAL_NOTE = (
    "B/A and its interval: the median of per-pair ratios (B - A where the metric says so) from short "
    "alternating pairs in ABBA order, with a distribution-free 90 % interval from order statistics; "
    "verdict yes when the interval's bad end meets the target, NO when its good end misses it, else unsure"
)
NA = "N/A"


@dataclass
class Row:
    section: str
    scenario: str
    metric: str
    a: float | None
    b: float | None
    ratio: float | None = None
    target: str = ""
    verdict: str | None = None  # yes, NO or unsure (paired.verdict); None without a target
    low: float | None = None  # the 90 % interval of the judged figure (B/A, or B where there is no A)
    high: float | None = None
    pairs: int | None = None  # pairs (or samples) it was measured from
    note: str = ""  # replaces the section's legend line (why a row is N/A)

    def cells(self) -> list[str]:
        return [
            self.section,
            self.scenario,
            self.metric,
            _number(self.a),
            _number(self.b),
            _number(self.ratio, ratio=True),
            self._interval(),
            "" if self.pairs is None else str(self.pairs),
            self.target or "",
            self.verdict or (NA if self.target else ""),
        ]


    def _interval(self) -> str:
        """Ratios to three decimals; an interval of an absolute figure (no A) as the figures are."""
        if self.low is None or self.high is None:
            return ""
        if self.a is not None:
            return paired.formatted(self.low, self.high)
        return "[" + ", ".join("∞" if math.isinf(x) and x > 0 else "-∞" if math.isinf(x) else _number(x)
                               for x in (self.low, self.high)) + "]"


def _number(value: float | None, *, ratio: bool = False) -> str:
    if value is None:
        return NA
    if ratio:
        return f"{value:.3f}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def machine() -> dict[str, str]:
    model = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    from .load import wrk_path
    from .server import nginx_path, nginx_version

    nginx = nginx_path()

    wrk = wrk_path()
    wrk_version = ""
    if wrk:
        out = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
        wrk_version = (out.stdout or out.stderr).split("[")[0].strip()
    return {
        "cpu": model,
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "flask": version("flask"),
        "gunicorn": version("gunicorn"),
        "load": wrk_version or "Python http.client generator (wrk not installed)",
        "nginx": nginx_version(nginx) if nginx else "",
    }


def render(info: dict[str, str], rows: list[Row], title: str) -> str:
    lines = [f"## {title}", ""]
    lines.append(
        f"Machine: {info['cpu']}, {info['cores']} cores; Python {info['python']} on {info['system']}; "
        f"Flask {info['flask']}, gunicorn {info['gunicorn']}"
        + (f", nginx {info['nginx']}" if info.get("nginx") else "")
        + f"; load: {info['load']}."
    )
    lines.append("")
    cells = [list(COLUMNS)] + [r.cells() for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    for i, line in enumerate(cells):
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |")
        if i == 0:
            lines.append("| " + " | ".join("-" * w for w in widths) + " |")
    lines.append("")
    for section in SECTIONS:
        notes = [r.note for r in rows if r.section == section and r.note]
        if any(r.section == section for r in rows):
            lines.append(f"- {section}: {notes[0] if notes else LEGEND[section]}")
    lines.append(f"- {INTERVAL_NOTE}")
    lines += ["", summary(rows)]
    return "\n".join(lines)


def verdicts(rows: list[Row]) -> dict[str, int]:
    """How many rows with a target are yes, NO and unsure, and how many were not measured (N/A)."""
    counts = {paired.YES: 0, paired.NO: 0, paired.UNSURE: 0, NA: 0}
    for row in rows:
        if row.target:
            counts[row.verdict if row.verdict is not None and row.verdict in counts else NA] += 1
    return counts


def summary(rows: list[Row]) -> str:
    counts = verdicts(rows)
    unmeasured = f", {counts[NA]} not measured" if counts[NA] else ""
    return (f"Targets: {counts[paired.YES]} yes, {counts[paired.NO]} NO, {counts[paired.UNSURE]} unsure"
            f"{unmeasured} (of {sum(counts.values())})")


def _finite(value: object) -> object:
    return None if isinstance(value, float) and math.isinf(value) else value


def as_json(info: dict[str, str], rows: list[Row], **extra: object) -> dict[str, object]:
    """The run as JSON; an unbounded interval end is null (JSON has no infinity)."""
    return {
        "machine": info, "columns": list(COLUMNS),
        "rows": [{k: _finite(v) for k, v in asdict(r).items()} for r in rows],
        "verdicts": verdicts(rows), **extra,
    }
