"""Serve the Django example locally: ``python -m examples.django_app`` from the repo root.

Uses werkzeug's development server on 127.0.0.1 only; set ``PORT`` to change
the port (default 8002). The users' database is migrated and a demo user is
created so there is something to sign in with.
"""

from __future__ import annotations

import os

from werkzeug.serving import run_simple

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-password"


def main() -> None:
    port = int(os.environ.get("PORT", "8002"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_app.settings")
    from .wsgi import application, prepare

    prepare(DEMO_USERNAME, DEMO_PASSWORD)
    from django.conf import settings

    from .settings import DEV_SECRET_KEY

    if settings.SECRET_KEY == DEV_SECRET_KEY:
        print("Warning: using the built-in development SECRET_KEY; set SECRET_KEY outside local testing.")
    print(f"Data in {settings.DATA_DIR}")
    print(f"Demo user: {DEMO_USERNAME} / {DEMO_PASSWORD}")
    print(f"Open http://127.0.0.1:{port}/", flush=True)
    run_simple("127.0.0.1", port, application, threaded=True)


if __name__ == "__main__":
    main()
