"""The Django example as a WSGI callable:

    SECRET_KEY=... TWOFA_DATABASE_URL=postgresql+psycopg://... EXAMPLE_DATA_DIR=/srv/example \
        gunicorn --workers 2 examples.django_app.wsgi:application

(run ``prepare()`` once first, or ``python -m django migrate`` with the same settings).
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_app.settings")

from django.core.wsgi import get_wsgi_application  # after the settings module is chosen

application = get_wsgi_application()


def prepare(username: str | None = None, password: str | None = None) -> None:
    """Create or upgrade the users' tables; add the user ``username`` if given and missing."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    users = get_user_model()
    if username and password and not users.objects.filter(username=username).exists():
        users.objects.create_user(username=username, password=password)
