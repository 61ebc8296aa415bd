"""The example's pages and JSON API: plain Django auth, nothing about TOTP.

Everything about the second factor happens in the middleware; the settings
page only links to its pages, from ``request.META["twofa"]``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.contrib.auth import authenticate, get_user_model, login, logout, update_session_auth_hash
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.static import serve

MAX_USERNAME_LENGTH = 64
MAX_PASSWORD_LENGTH = 1024
STATIC = Path(__file__).resolve().parent.parent / "flask_app" / "static"  # the Flask example's stylesheet


def validate_credentials(username: Any, password: Any) -> str | None:
    """Why these credentials cannot be used, or None when they look fine."""
    if not isinstance(username, str) or not isinstance(password, str) or not username or not password:
        return "Username and password are required."
    if len(username) > MAX_USERNAME_LENGTH:
        return f"Usernames are at most {MAX_USERNAME_LENGTH} characters."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Passwords are at most {MAX_PASSWORD_LENGTH} characters."
    if not username.isprintable():
        return "Usernames cannot contain control characters."
    return None


def create_user(username: str, password: str) -> Any:
    """The new user, or None when the name is taken."""
    users = get_user_model()
    if users.objects.filter(username=username).exists():
        return None
    try:
        return users.objects.create_user(username=username, password=password)
    except IntegrityError:
        return None


def with_next(url: str, next_path: str) -> str:
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}next={quote(next_path, safe='/')}"


def safe_next(request: HttpRequest, value: str | None, default: str = "/settings") -> str:
    if value and value.startswith("/") and url_has_allowed_host_and_scheme(value, allowed_hosts=None):
        return value
    return default


CSP = "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"


def page(request: HttpRequest, template: str, status: int = 200, **context: Any) -> HttpResponse:
    response = render(request, template, context, status=status)
    response["Content-Security-Policy"] = CSP
    response["Cache-Control"] = "no-store"
    return response


# ----- HTML pages -----------------------------------------------------------------


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return page(request, "home.html")


@require_http_methods(["GET", "POST"])
def register(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return page(request, "register.html", username="")
    username = request.POST.get("username", "").strip()
    password = request.POST.get("password", "")
    error = validate_credentials(username, password)
    user = create_user(username, password) if error is None else None
    if error is None and user is None:
        error = "That username is already taken."
    if error is not None:
        return page(request, "register.html", 400, error=error, username=username)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return redirect("/settings")


@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    next_path = safe_next(request, request.POST.get("next") or request.GET.get("next"))
    if request.method == "GET":
        return page(request, "login.html", username="", next_path=next_path)
    username = request.POST.get("username", "").strip()
    password = request.POST.get("password", "")
    user = authenticate(request, username=username, password=password) if username and password else None
    if user is None:
        return page(request, "login.html", 401, error="Incorrect username or password.",
                    username=username, next_path=next_path)
    login(request, user)
    return redirect(next_path)


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("/login")


@require_GET
def settings_page(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect(with_next("/login", "/settings"))
    info = request.META.get("twofa")
    links = {name: with_next(url, "/settings") for name, url in info.urls.items()} if info else {}
    return page(request, "settings.html", twofa=info, links=links)


def static(request: HttpRequest, path: str) -> HttpResponse:
    return serve(request, path, document_root=STATIC)


# ----- JSON API ----------------------------------------------------------------------
# The API takes only application/json bodies, which no cross-site form can send
# without the browser asking first (CORS): Django's CSRF token is not needed there.


def json_error(error: str, status: int) -> JsonResponse:
    return JsonResponse({"error": error}, status=status)


def json_body(request: HttpRequest) -> dict[str, Any] | JsonResponse:
    if request.content_type != "application/json":
        return json_error("unsupported_media_type", 415)
    try:
        body = json.loads(request.body)
    except ValueError:
        return json_error("invalid_request", 400)
    return body if isinstance(body, dict) else json_error("invalid_request", 400)


def json_credentials(request: HttpRequest) -> tuple[str, str] | JsonResponse:
    body = json_body(request)
    if isinstance(body, JsonResponse):
        return body
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or validate_credentials(username.strip(), password) is not None:
        return json_error("invalid_request", 400)
    return username.strip(), password


@csrf_exempt
@require_POST
def api_register(request: HttpRequest) -> JsonResponse:
    credentials = json_credentials(request)
    if isinstance(credentials, JsonResponse):
        return credentials
    user = create_user(*credentials)
    if user is None:
        return json_error("user_exists", 409)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return JsonResponse({"user": user.get_username()}, status=201)


@csrf_exempt
@require_POST
def api_login(request: HttpRequest) -> JsonResponse:
    credentials = json_credentials(request)
    if isinstance(credentials, JsonResponse):
        return credentials
    user = authenticate(request, username=credentials[0], password=credentials[1])
    if user is None:
        return json_error("invalid_credentials", 401)
    login(request, user)
    return JsonResponse({"user": user.get_username()})


@require_GET
def api_me(request: HttpRequest) -> JsonResponse:
    """The signed-in user; for a personal access token, its owner (the middleware set ``request.user``)."""
    if not request.user.is_authenticated:
        return json_error("not_signed_in", 401)
    return JsonResponse({"user": request.user.get_username()})


@csrf_exempt
@require_POST
def api_password(request: HttpRequest) -> JsonResponse:
    """Change the password and stay signed in (``update_session_auth_hash``): no new 2FA step."""
    if not request.user.is_authenticated:
        return json_error("not_signed_in", 401)
    body = json_body(request)
    if isinstance(body, JsonResponse):
        return body
    old, new = body.get("old_password"), body.get("new_password")
    if not isinstance(old, str) or validate_credentials(request.user.get_username(), new) is not None:
        return json_error("invalid_request", 400)
    if not request.user.check_password(old):
        return json_error("invalid_credentials", 401)
    request.user.set_password(new)
    request.user.save()
    update_session_auth_hash(request, request.user)
    return JsonResponse({"user": request.user.get_username()})


@csrf_exempt
@require_POST
def api_logout(request: HttpRequest) -> JsonResponse:
    body = json_body(request)
    if isinstance(body, JsonResponse):
        return body
    logout(request)
    return JsonResponse({"ok": True})
