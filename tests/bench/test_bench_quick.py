"""``make bench QUICK=1`` runs every section and prints the table the README shows: its shape, not its numbers."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from bench.table import COLUMNS, SECTIONS

ROOT = Path(__file__).resolve().parents[2]
NUMBER = re.compile(r"^-?[\d,]+(\.\d+)?$")


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def test_quick_bench_prints_one_table_with_every_section(tmp_path):
    out = tmp_path / "bench.json"
    env = {**os.environ, "QUICK": "1", "PYTHONPATH": str(ROOT)}
    # Its own process group, so a timeout also ends the gunicorn servers it started.
    process = subprocess.Popen(
        [sys.executable, "-m", "bench", "--json", str(out)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    assert result.returncode == 0, result.stderr[-3000:]

    lines = [line for line in result.stdout.splitlines() if line.startswith("|")]
    assert _cells(lines[0]) == list(COLUMNS)
    assert set(lines[1]) <= set("|- ")
    rows = [_cells(line) for line in lines[2:]]
    assert {row[0] for row in rows} == set(SECTIONS)
    assert all(len(row) == len(COLUMNS) for row in rows)
    assert re.search(r"^Machine: .+, \d+ cores; Python 3\.\d+", result.stdout, re.MULTILINE)
    col = {name: i for i, name in enumerate(COLUMNS)}

    by_section: dict[str, list[list[str]]] = {}
    for row in rows:
        by_section.setdefault(row[0], []).append(row)
    # Measured here on any machine: A, B and B/A are numbers, and each paired row says its
    # interval (around its B/A) and how many pairs it took.
    for section in ("in-process", "gunicorn", "scale"):
        for row in by_section[section]:
            assert all(NUMBER.match(cell) for cell in row[3:6]), row
            low, high = _interval(row[col["90 % interval"]])
            assert low <= float(row[col["B/A"]]) <= high, row
            assert int(row[col["pairs"]]) >= 6, row
    assert {row[1][0] for row in by_section["in-process"]} == set("abcde")
    assert {row[1][0] for row in by_section["gunicorn"]} == set("abcd")
    assert {row[2] for row in by_section["gunicorn"]} == {"CPU µs/request", "req/s", "p50 ms", "p99 ms"}
    # The gunicorn target is judged on the worker's CPU time per request.
    assert {row[2] for row in by_section["gunicorn"] if row[col["target"]]} == {"CPU µs/request"}
    assert [("hits" in row[1], "misses" in row[1]) for row in by_section["scale"]] == [
        (True, False), (True, False), (False, True), (False, True), (False, False)]
    # SQLite always; PostgreSQL when reachable, else N/A -- but CI has one, so there it must be measured.
    postgres_required = os.environ.get("TWOFA_REQUIRE_ALL") == "1"
    for row in by_section["verification"]:
        assert NUMBER.match(row[3]) and (NUMBER.match(row[4]) or (row[4] == "N/A" and not postgres_required)), row
    sqlite_rows = [r for r in by_section["unknown token"] + by_section["floor"] if "SQLite" in r[1]]
    assert len(sqlite_rows) == 2 and all(NUMBER.match(c) for r in sqlite_rows for c in r[3:6]), sqlite_rows
    for row in by_section["unknown token"] + by_section["floor"] + by_section["invalidation"]:
        measured = NUMBER.match(row[4])
        assert measured or (row[4] == "N/A" and not postgres_required), row
    assert all(NUMBER.match(row[4]) for row in by_section["memory"])
    # The Node upstream behind nginx, without and with auth_request, when both are installed.
    if shutil.which("nginx") or os.path.exists("/usr/sbin/nginx"):
        assert [row[2] for row in by_section["forward-auth"]] == ["p50 ms added (B - A)", "req/s", "p99 ms"]
        for row in by_section["forward-auth"]:
            assert all(NUMBER.match(cell) for cell in row[3:6]), row
    else:
        assert [row[3:6] for row in by_section["forward-auth"]] == [["N/A", "N/A", "N/A"]] * 2
        assert "- forward-auth: nginx not installed" in result.stdout
    # Rows with a target have a verdict (N/A when not measured here), the others none; the last line counts them.
    for row in rows:
        assert (row[col["verdict"]] in ("yes", "NO", "unsure", "N/A")) == bool(row[col["target"]]), row
        assert (row[col["verdict"]] == "N/A") == (row[col["target"]] != "" and row[4] == "N/A"), row
    counted = {v: sum(row[col["verdict"]] == v for row in rows) for v in ("yes", "NO", "unsure", "N/A")}
    unmeasured = f", {counted['N/A']} not measured" if counted["N/A"] else ""
    assert result.stdout.rstrip().splitlines()[-1] == (
        f"Targets: {counted['yes']} yes, {counted['NO']} NO, {counted['unsure']} unsure{unmeasured} "
        f"(of {sum(counted.values())})"
    )

    payload = json.loads(out.read_text(encoding="utf-8"))
    assert payload["quick"] is True
    assert payload["columns"] == list(COLUMNS)
    assert len(payload["rows"]) == len(rows)
    assert payload["verdicts"] == counted
    paired_rows = [r for r in payload["rows"] if r["pairs"] is not None and r["a"] is not None]
    assert paired_rows and all(r["low"] <= r["ratio"] <= r["high"] for r in paired_rows if r["low"] is not None)
    assert {"cpu", "cores", "python"} <= set(payload["machine"])


def _interval(cell: str) -> tuple[float, float]:
    """``[0.998, 1.027]`` as numbers (``-∞``/``∞`` for an open end)."""
    match = re.fullmatch(r"\[(-?[\d.,]+|-∞), (-?[\d.,]+|∞)\]", cell)
    assert match, cell
    return tuple(float("inf") if x == "∞" else float("-inf") if x == "-∞" else float(x.replace(",", ""))
                 for x in match.groups())  # type: ignore[return-value]


def test_noop_bench_prints_what_the_middleware_adds_per_scenario():
    """``python -m bench.noop`` (README's no-op figures) still runs: a row per scenario a-d."""
    result = subprocess.run([sys.executable, "-m", "bench.noop", "50", "2"], check=False, cwd=ROOT,
                            capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {line.split()[0]: line.split()[-6:] for line in result.stdout.splitlines()[1:]}
    assert sorted(rows) == ["a", "b", "c", "d"]
    assert all(NUMBER.match(cell) for cells in rows.values() for cell in cells)
