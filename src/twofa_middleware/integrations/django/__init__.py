"""Two-factor authentication for Django projects, in Django's own style.

.. code-block:: python

    INSTALLED_APPS = [..., "twofa_middleware.integrations.django"]
    MIDDLEWARE = [
        ...,
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "twofa_middleware.integrations.django.middleware.TwoFactorMiddleware",
        ...,
    ]
    TWOFA = {"issuer": "Example"}  # optional: any Settings field, database_url, secret_key...

The middleware judges the user Django itself resolved (``request.user``), binds
the second factor to a sign-in nonce set from Django's ``user_logged_in``
signal, and serves the pages and JSON API under ``/_2fa`` from the one
implementation every integration shares. Nothing here is imported before
Django is configured: this package itself imports no Django.
"""
