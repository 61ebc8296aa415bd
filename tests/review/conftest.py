"""The review's proofs of concept reuse the e2e stacks (real nginx, gunicorn and Node)."""

from tests.e2e.conftest import nginx_stack, node, proxy_stack, stack, stacks  # noqa: F401
