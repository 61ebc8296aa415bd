"""What forward auth and the proxy judge: exactly the path and Cookie header the app gets, or a refusal."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from twofa_middleware.errors import InvalidRequest
from twofa_middleware.proxy.parity import (
    Ambiguous,
    check_segments,
    content_length,
    header_value,
    judged_path,
    plain_cookie_header,
)


@pytest.mark.parametrize(
    "uri, path, query",
    [
        pytest.param("/", "/", "", id="root"),
        pytest.param("/api/me?x=1&y=%2F", "/api/me", "x=1&y=%2F", id="query-kept-raw"),
        pytest.param("/files/a%20b/", "/files/a b/", "", id="escaped-space"),
        pytest.param("/caf%C3%A9", "/caf\xc3\xa9", "", id="utf8-as-wsgi-latin1"),
        pytest.param("/a/b/", "/a/b/", "", id="trailing-slash"),
    ],
)
def test_a_plain_path_is_judged_as_a_wsgi_server_decodes_it(uri, path, query):
    assert judged_path(uri) == (path, query)


@pytest.mark.parametrize(
    "uri",
    [
        pytest.param("/secret/..;/_2fa/", id="dot-dot-semicolon"),
        pytest.param("/secret/..%5c_2fa/", id="encoded-backslash"),
        pytest.param("/secret/..\\_2fa/", id="backslash"),
        pytest.param("/secret/..;/logout", id="dot-dot-semicolon-to-exempt"),
        pytest.param("/secret/../logout", id="dot-segment"),
        pytest.param("/secret/./x", id="single-dot-segment"),
        pytest.param("/secret/%2e%2e/logout", id="encoded-dots"),
        pytest.param("/secret/%2E./logout", id="half-encoded-dots"),
        pytest.param("/logout%2f..%2fsecret", id="encoded-slash"),
        pytest.param("/lo%67out", id="encoded-unreserved-letter"),
        pytest.param("/secret;jsessionid=1", id="semicolon-parameter"),
        pytest.param("//secret", id="empty-segment"),
        pytest.param("/a//b", id="inner-empty-segment"),
        pytest.param("/a%00b", id="encoded-nul"),
        pytest.param("/a%zz", id="bad-escape"),
        pytest.param("/a%2", id="short-escape"),
        pytest.param("/a%25", id="encoded-percent"),
        pytest.param("/a b", id="raw-space"),
        pytest.param("/caf\xe9", id="raw-non-ascii"),
        pytest.param("/a#frag", id="fragment"),
        pytest.param("a/b", id="relative"),
        pytest.param("http://evil/secret", id="absolute-form"),
        pytest.param("/a?b\x01", id="control-in-query"),
        pytest.param("/logout/%C0%AE%C0%AE/secret", id="overlong-utf8-dots"),
        pytest.param("/caf%E9", id="latin1-escape-not-utf8"),
    ],
)
def test_a_path_the_app_could_read_differently_is_refused(uri):
    with pytest.raises(Ambiguous) as caught:
        judged_path(uri)
    assert caught.value.status == 400 and caught.value.code == "ambiguous_request"


@pytest.mark.parametrize("path", ["/a/..", "/a/.", "/a\\b", "/a;b", "/a//b", "/a\x7fb", "//"])
def test_the_proxy_refuses_decoded_paths_that_routers_resolve(path):
    with pytest.raises(Ambiguous):
        check_segments(path)


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("x=y,sid=S", id="lines-joined-by-gunicorn"),
        pytest.param("x=y, sid=S", id="lines-joined-by-werkzeug"),
        pytest.param("sid=A; sid=B", id="session-twice"),
        pytest.param("sid=A;sid=B; x=1", id="no-space"),
        pytest.param('a="x; sid=Y ; b="; sid=X', id="quoted-value-hides-a-session"),
        pytest.param("\x0bsid=Y; sid=X", id="vertical-tab"),
        pytest.param("sid=abc; x=\xe9", id="non-ascii-byte"),
        pytest.param("sid =S", id="space-before-equals"),
        pytest.param("sid=S;", id="trailing-semicolon"),
        pytest.param("sid", id="no-equals"),
        pytest.param("=S", id="empty-name"),
    ],
)
def test_cookie_lines_joined_by_a_server_or_a_doubled_session_cookie_are_refused(header):
    with pytest.raises(Ambiguous):
        plain_cookie_header(header, "sid")


@pytest.mark.parametrize("header", [None, "", "sid=S", "x=y; sid=S", "sidx=1; sid=S", "a=1; a=2; sid=S", "sid="])
def test_one_plain_cookie_line_passes(header):
    plain_cookie_header(header, "sid")


@pytest.mark.parametrize(
    "user, sent",
    [
        ("alice", "alice"),
        ("a.b+c@example.com", "a.b+c@example.com"),
        ("admin\r\nX-Pad: 1", "admin%0D%0AX-Pad:%201"),
        ("Łukasz", "%C5%81ukasz"),
        ("山田", "%E5%B1%B1%E7%94%B0"),
        ("100%", "100%25"),
    ],
)
def test_a_user_name_travels_in_a_header_percent_encoded(user, sent):
    assert header_value(user) == sent
    assert unquote(sent) == user
    assert sent.isascii() and sent.isprintable() and " " not in sent


@pytest.mark.parametrize("value, length", [("0", 0), ("12", 12), ("007", 7)])
def test_a_content_length_of_ascii_digits_is_read(value, length):
    assert content_length(value) == length


@pytest.mark.parametrize("value", ["²", "１２", "-1", "+1", " 1", "1e3", "", "9" * 20])
def test_any_other_content_length_is_refused(value):
    with pytest.raises(InvalidRequest):
        content_length(value)
