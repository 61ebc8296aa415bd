"""Serve the Pyramid example locally: ``python -m examples.pyramid_app`` from the repo root."""

from __future__ import annotations

import os

from werkzeug.serving import run_simple

from .app import make_app


def main() -> None:
    port = int(os.environ.get("PORT", "8001"))
    print(f"Open http://127.0.0.1:{port}/", flush=True)
    run_simple("127.0.0.1", port, make_app(), threaded=True)


if __name__ == "__main__":
    main()
