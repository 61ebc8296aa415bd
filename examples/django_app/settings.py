"""Settings of the Django example, from the environment.

``SECRET_KEY``; ``TWOFA_DATABASE_URL`` (the 2FA store, default SQLite beside the
users); ``EXAMPLE_DATA_DIR`` (the example's SQLite files, default a directory
under the system's temporary directory).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# Only for local development: anyone reading this file can forge sessions with it.
DEV_SECRET_KEY = "dev-only-INSECURE-secret-key-do-not-use-in-production"

HERE = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("EXAMPLE_DATA_DIR") or Path(tempfile.gettempdir()) / "twofa-django-example")
DATA_DIR.mkdir(parents=True, exist_ok=True)
BASE_DIR = DATA_DIR  # where the 2FA store goes when TWOFA_DATABASE_URL is not set

SECRET_KEY = os.environ.get("SECRET_KEY") or DEV_SECRET_KEY
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "twofa_middleware.integrations.django",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "twofa_middleware.integrations.django.middleware.TwoFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

TWOFA = {"issuer": "Example App"}  # everything else from the settings below and the environment

ROOT_URLCONF = "examples.django_app.urls"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "settings"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [HERE / "templates"],
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csrf",
                "django.contrib.auth.context_processors.auth",
            ]
        },
    }
]

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": DATA_DIR / "users.sqlite3"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
USE_TZ = True
STATIC_URL = "/static/"
