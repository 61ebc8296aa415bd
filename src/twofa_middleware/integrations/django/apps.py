# mypy: disable-error-code="import-untyped", allow-subclassing-any
"""The Django app: connects the sign-in signal and checks the MIDDLEWARE order."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_in
from django.core import checks


class TwoFactorConfig(AppConfig):
    name = "twofa_middleware.integrations.django"
    label = "twofa_middleware"
    verbose_name = "Two-factor authentication"

    def ready(self) -> None:
        from .core import on_user_logged_in

        user_logged_in.connect(on_user_logged_in, dispatch_uid="twofa_middleware.new_sign_in")
        checks.register(check_configuration, checks.Tags.security)


def check_configuration(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """``manage.py check``: the same problems the middleware refuses to start with."""
    from .middleware import THIS, configuration_problems

    return [
        checks.Error(f"twofa: {problem}", obj=THIS, id="twofa.E001") for problem in configuration_problems()
    ]
