"""The example as a WSGI callable for production servers, configured by the environment:

    SECRET_KEY=... TWOFA_DATABASE_URL=postgresql+psycopg://... EXAMPLE_USERS_DB=/srv/users.db \
        gunicorn --workers 2 examples.flask_app.wsgi:app

Every instance must share ``SECRET_KEY`` and ``TWOFA_DATABASE_URL``.
"""

from __future__ import annotations

from .app import create_app

app = create_app()
