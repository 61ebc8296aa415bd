"""One table for every figure of a run, as Markdown text and as JSON."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from dataclasses import asdict, dataclass
from importlib.metadata import version

COLUMNS = ("section", "scenario", "metric", "A", "B", "B/A", "target", "met")
SECTIONS = ("in-process", "gunicorn", "verification", "scale", "memory", "forward-auth")
# What A and B are in each section.
LEGEND = {
    "in-process": (
        "A = bare Flask route, B = the same route wrapped (µs per request, called directly); "
        "in e the middleware answers 303 itself, so the app never runs"
    ),
    "gunicorn": "A = bare, B = wrapped, each under gunicorn with 1 sync worker, loaded from another process",
    "verification": "A = SQLite, B = PostgreSQL: POST verify with a valid code, one per user",
    "scale": "A = 1,000 enrolled users and tokens in the store, B = the larger store (µs or ms per request)",
    "memory": "B = memory held by the middleware's caches after that many distinct cookies",
    "forward-auth": (
        "A = nginx serving a static page directly, B = the same page behind auth_request to the "
        "forward-auth app (ForwardAuth under gunicorn, 1 sync worker), configured like README's nginx example; "
        "loaded from another process"
    ),
}
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
    met: bool | None = None
    note: str = ""  # replaces the section's legend line (why a row is N/A)

    def cells(self) -> list[str]:
        return [
            self.section,
            self.scenario,
            self.metric,
            _number(self.a),
            _number(self.b),
            _number(self.ratio, ratio=True),
            self.target or "",
            "" if self.met is None else ("yes" if self.met else "NO"),
        ]


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


def check(target: str, ratio: float | None) -> bool | None:
    """``≤ 1.10`` or ``≥ 0.95`` against a ratio."""
    match = re.fullmatch(r"([≤≥])\s*([\d.]+)", target)
    if match is None or ratio is None:
        return None
    limit = float(match.group(2))
    return ratio <= limit if match.group(1) == "≤" else ratio >= limit


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
    return "\n".join(lines)


def as_json(info: dict[str, str], rows: list[Row], **extra: object) -> dict[str, object]:
    return {"machine": info, "columns": list(COLUMNS), "rows": [asdict(r) for r in rows], **extra}
