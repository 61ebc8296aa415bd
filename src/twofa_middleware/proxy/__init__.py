"""Reverse-proxy mode: the middleware in front of an app that is not Python at all.

Three parts, wired together by :func:`proxy_app`:

- :class:`ReverseProxy`, a WSGI app that forwards each request to the
  upstream over HTTP, the one the middleware wraps;
- :func:`upstream_identify`, who is signed in, asked of the upstream's own
  "who am I" endpoint with the request's session cookie;
- :func:`upstream_check_password`, a password checked by the upstream's own
  login endpoint.

:class:`ForwardAuth` is the other way to sit in front of such an app: nginx
(``auth_request``) or Traefik (``forwardAuth``) proxy the traffic and ask it,
per request, whether to let it through.

What the upstream must provide: a JSON who-am-I endpoint answering 200 with the
user's name for a signed-in session cookie (401 or 403 otherwise), a JSON login
endpoint answering 2xx for a right password, and a session cookie whose value
changes at every sign-in and stays the same during one.

Failing closed: when the upstream cannot be asked who is signed in (down, too
slow, a 5xx), nothing is forwarded, the answer is a 502 or 504. An identify that
said "nobody" instead would let a signed-in user who owes the second factor
through whenever the who-am-I call alone failed (a timeout under load, say).
"""

from .common import UpstreamTimeout as UpstreamTimeout
from .common import UpstreamUnavailable as UpstreamUnavailable
from .forward_auth import ForwardAuth as ForwardAuth
from .reverse import ReverseProxy as ReverseProxy
from .reverse import canonical_cookie_header as canonical_cookie_header
from .reverse import strip_hop_by_hop as strip_hop_by_hop
from .upstream import upstream_check_password as upstream_check_password
from .upstream import upstream_identify as upstream_identify
from .wiring import ProxyMiddleware as ProxyMiddleware
from .wiring import app_from_env as app_from_env
from .wiring import forward_auth_app as forward_auth_app
from .wiring import proxy_app as proxy_app
