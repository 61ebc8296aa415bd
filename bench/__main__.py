"""``python -m bench [--quick]``: print the table and write it as JSON under bench/results/."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from . import run, table

RESULTS = Path(__file__).resolve().parent / "results"
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/twofa_bench"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", default=os.environ.get("QUICK") not in (None, "", "0"),
                        help="a smoke run of every section in under two minutes (also QUICK=1)")
    parser.add_argument("--json", type=Path, help="where to write the JSON (default: bench/results/)")
    parser.add_argument("--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", POSTGRES_URL))
    args = parser.parse_args(argv)

    plan = run.Plan.make(args.quick)
    started = time.time()
    rows: list[table.Row] = []
    with tempfile.TemporaryDirectory(prefix="twofa-bench-") as tmp:
        directory = Path(tmp)
        for name, section in (
            ("in-process", lambda: run.in_process(plan, directory)),
            ("gunicorn", lambda: run.through_gunicorn(plan, directory)),
            ("verification", lambda: run.verification(plan, directory, args.postgres_url)),
            ("scale", lambda: run.scale(plan, directory)),
            ("unknown token", lambda: run.unknown_token(plan, directory, args.postgres_url)),
            ("floor", lambda: run.floor_rows(plan, directory, args.postgres_url)),
            ("invalidation", lambda: run.invalidation_rows(plan, args.postgres_url)),
            ("memory", lambda: run.memory(plan)),
            ("forward-auth", lambda: run.forward_auth(plan, directory)),
        ):
            t = time.perf_counter()
            rows += section()
            print(f"  {name}: {time.perf_counter() - t:.1f} s", file=sys.stderr)

    info = table.machine()
    day = time.strftime("%Y-%m-%d", time.gmtime(started))
    title = f"twofa-middleware benchmark{' (QUICK)' if plan.quick else ''}, {day}"
    print(table.render(info, rows, title))
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(started))
    path = args.json or RESULTS / f"bench-{stamp}{'-quick' if plan.quick else ''}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = table.as_json(info, rows, quick=plan.quick, started=started, seconds=time.time() - started)
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nwritten to {path}")
    print(table.summary(rows))  # the last line: how many targets are yes, NO and unsure
    return 0


if __name__ == "__main__":
    sys.exit(main())
