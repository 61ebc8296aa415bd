"""A small Flask app showing how to wrap a real application with TwoFactorMiddleware.

Run it from the repository root with ``python -m examples.flask_app``.
"""
