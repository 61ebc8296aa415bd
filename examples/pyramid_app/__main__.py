"""Serve the Pyramid example locally: ``python -m examples.pyramid_app`` from the repo root.

Uses werkzeug's development server on 127.0.0.1 only; ``PORT`` sets the port
(default 8001) and ``TWOFA_DATABASE_URL`` the 2FA database. A demo user is
created so there is something to sign in with.
"""

from __future__ import annotations

import os

from werkzeug.serving import run_simple

from .app import DEV_SECRET_KEY, make_app

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-password"


def main() -> None:
    port = int(os.environ.get("PORT", "8001"))
    app = make_app()
    users = app.registry.settings["example_users"]
    if not users.exists(DEMO_USERNAME):
        users.create(DEMO_USERNAME, DEMO_PASSWORD)
    if (os.environ.get("SECRET_KEY") or DEV_SECRET_KEY) == DEV_SECRET_KEY:
        print("Warning: using the built-in development SECRET_KEY; set SECRET_KEY outside local testing.")
    print(f"Demo user: {DEMO_USERNAME} / {DEMO_PASSWORD}")
    print(f"Open http://127.0.0.1:{port}/", flush=True)
    run_simple("127.0.0.1", port, app, threaded=True)


if __name__ == "__main__":
    main()
