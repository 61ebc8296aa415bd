"""``make bench QUICK=1`` runs, and prints the table the README shows: its shape, not its numbers."""

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

    by_section: dict[str, list[list[str]]] = {}
    for row in rows:
        by_section.setdefault(row[0], []).append(row)
    # Measured here on any machine: bare and wrapped, and their ratio, are numbers.
    for section in ("in-process", "gunicorn", "scale"):
        for row in by_section[section]:
            assert all(NUMBER.match(cell) for cell in row[3:6]), row
    assert {row[1][0] for row in by_section["in-process"]} == set("abcde")
    assert {row[1][0] for row in by_section["gunicorn"]} == set("abcd")
    assert {row[2] for row in by_section["gunicorn"]} == {"req/s", "p50 ms", "p99 ms"}
    # SQLite always; PostgreSQL when reachable, else N/A -- but CI has one, so there it must be measured.
    postgres_required = os.environ.get("TWOFA_REQUIRE_ALL") == "1"
    for row in by_section["verification"]:
        assert NUMBER.match(row[3]) and (NUMBER.match(row[4]) or (row[4] == "N/A" and not postgres_required)), row
    assert all(NUMBER.match(row[4]) for row in by_section["memory"])
    # nginx direct vs behind auth_request when nginx is installed (not required in CI), else one N/A row.
    if shutil.which("nginx"):
        assert [row[2] for row in by_section["forward-auth"]] == ["req/s", "p50 ms", "p99 ms"]
        for row in by_section["forward-auth"]:
            assert all(NUMBER.match(cell) for cell in row[3:6]), row
    else:
        assert [row[3:6] for row in by_section["forward-auth"]] == [["N/A", "N/A", "N/A"]]
        assert "- forward-auth: nginx not installed" in result.stdout
    # Rows with a target say whether it was met.
    for row in rows:
        assert (row[7] in ("yes", "NO")) == bool(row[6]), row

    payload = json.loads(out.read_text(encoding="utf-8"))
    assert payload["quick"] is True
    assert payload["columns"] == list(COLUMNS)
    assert len(payload["rows"]) == len(rows)
    assert {"cpu", "cores", "python"} <= set(payload["machine"])
