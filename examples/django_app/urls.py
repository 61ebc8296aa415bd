"""The example's routes: the same paths as the Flask and Pyramid examples."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("register", views.register, name="register"),
    path("login", views.sign_in, name="login"),
    path("logout", views.sign_out, name="logout"),
    path("settings", views.settings_page, name="settings"),
    path("static/<path:path>", views.static, name="static"),
    path("api/register", views.api_register),
    path("api/login", views.api_login),
    path("api/me", views.api_me),
    path("api/password", views.api_password),
    path("api/logout", views.api_logout),
]
