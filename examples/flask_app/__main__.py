"""Serve the example app locally: ``python -m examples.flask_app`` from the repo root.

Uses werkzeug's development server on 127.0.0.1 only; set ``PORT`` to change
the port (default 8000). A demo user is created so there is something to sign in with.
"""

from __future__ import annotations

import os

from werkzeug.serving import run_simple

from .app import DEV_SECRET_KEY, create_app

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-password"


def main() -> None:
    """Create the app and the demo user, then serve until interrupted."""
    port = int(os.environ.get("PORT", "8000"))
    app = create_app()
    users = app.extensions["example_users"]
    if not users.exists(DEMO_USERNAME):
        users.create(DEMO_USERNAME, DEMO_PASSWORD)

    if app.config["SECRET_KEY"] == DEV_SECRET_KEY:
        print("Warning: using the built-in development SECRET_KEY; set SECRET_KEY outside local testing.")
    print(f"Demo user: {DEMO_USERNAME} / {DEMO_PASSWORD}")
    print(f"Open http://127.0.0.1:{port}/", flush=True)
    run_simple("127.0.0.1", port, app, threaded=True)


if __name__ == "__main__":
    main()
