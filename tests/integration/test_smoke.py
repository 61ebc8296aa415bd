from tests.conftest import csrf_of


def test_signed_out_visitor_reaches_the_app(live_app):
    s = live_app.session()
    r = s.get(live_app.url + "/login")
    assert r.status_code == 200
    assert "Sign in" in r.text
