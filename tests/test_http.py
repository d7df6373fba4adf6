"""The HTTP layer against a real local server: etiquette, retries, timeouts, cache."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from werkzeug import Response

from osmcams import __version__
from osmcams.errors import ExitCode, NetworkError
from osmcams.sources.http import Http


def test_user_agent_names_osmcams_version_and_url(httpserver, net_settings):
    httpserver.expect_request(
        "/geo/ping", headers={"User-Agent": f"osmcams/{__version__} (+https://github.com/osmcams/osmcams)"}
    ).respond_with_json({"ok": True})
    assert Http(net_settings).get_json(httpserver.url_for("/geo/ping")) == {"ok": True}


def test_429_with_retry_after_then_success(httpserver, net_settings):
    httpserver.expect_ordered_request("/api/x").respond_with_data(
        "Too Many Requests", status=429, headers={"Retry-After": "1"}
    )
    httpserver.expect_ordered_request("/api/x").respond_with_json({"elements": []})
    start = time.monotonic()
    assert Http(net_settings).get_json(httpserver.url_for("/api/x")) == {"elements": []}
    assert time.monotonic() - start >= 1.0  # Retry-After was honoured
    httpserver.check_assertions()


def test_429_waits_at_least_the_minimum(httpserver, net_settings):
    httpserver.expect_ordered_request("/api/x").respond_with_data("busy", status=429)
    httpserver.expect_ordered_request("/api/x").respond_with_json([])
    start = time.monotonic()
    Http(replace(net_settings, min_retry_wait=0.5)).get_json(httpserver.url_for("/api/x"))
    assert time.monotonic() - start >= 0.5


def test_504_on_every_try_is_a_network_error(httpserver, net_settings):
    httpserver.expect_request("/api/x").respond_with_data("Gateway Timeout", status=504)
    with pytest.raises(NetworkError, match="answered 504 GATEWAY TIMEOUT after 3 tries") as e:
        Http(net_settings).get_json(httpserver.url_for("/api/x"))
    assert e.value.exit_code == ExitCode.NETWORK == 5
    assert len(httpserver.log) == 3  # bounded by max_tries


def test_slow_answer_times_out(httpserver, net_settings):
    def slow(request):
        time.sleep(0.6)
        return Response("[]", content_type="application/json")

    httpserver.expect_request("/geo/slow").respond_with_handler(slow)
    with pytest.raises(NetworkError, match="did not answer within"):
        Http(replace(net_settings, read_timeout=0.2)).get_json(httpserver.url_for("/geo/slow"))
    time.sleep(0.6)
    assert len(httpserver.log) == 1  # a slow answer is not asked again


def test_truncated_body(httpserver, net_settings):
    body = b'{"elements": [' + b"1, " * 100 + b"1]}"
    httpserver.expect_request("/api/x").respond_with_response(
        Response(iter([body[:50]]), headers={"Content-Length": str(len(body))},
                 direct_passthrough=True)
    )
    with pytest.raises(NetworkError, match="cut short"):
        Http(net_settings).get_json(httpserver.url_for("/api/x"))


def test_invalid_json_is_an_error_and_not_cached(httpserver, net_settings):
    httpserver.expect_ordered_request("/geo/x").respond_with_data("<html>oops</html>")
    httpserver.expect_ordered_request("/geo/x").respond_with_json({"fixed": True})
    http = Http(net_settings)
    with pytest.raises(NetworkError, match="not valid JSON"):
        http.get_json(httpserver.url_for("/geo/x"))
    assert http.get_json(httpserver.url_for("/geo/x")) == {"fixed": True}


def test_cache_then_offline_then_refresh(httpserver, net_settings):
    httpserver.expect_ordered_request("/geo/x").respond_with_json({"n": 1})
    httpserver.expect_ordered_request("/geo/x").respond_with_json({"n": 2})
    url = httpserver.url_for("/geo/x")
    assert Http(net_settings).get_json(url, {"q": "a"}) == {"n": 1}
    assert Http(net_settings).get_json(url, {"q": "a"}) == {"n": 1}  # cached
    offline = Http(replace(net_settings, offline=True))
    assert offline.get_json(url, {"q": "a"}) == {"n": 1}
    with pytest.raises(NetworkError, match="offline: no cached answer"):
        offline.get_json(url, {"q": "other"})
    assert Http(replace(net_settings, refresh=True)).get_json(url, {"q": "a"}) == {"n": 2}
    assert len(httpserver.log) == 2


def test_offline_serves_expired_answers(httpserver, net_settings):
    httpserver.expect_request("/geo/x").respond_with_json({"n": 1})
    url = httpserver.url_for("/geo/x")
    Http(replace(net_settings, cache_ttl=1)).get_json(url)
    time.sleep(1.1)
    assert Http(replace(net_settings, offline=True)).get_json(url) == {"n": 1}


def test_unreachable_server(net_settings):
    settings = replace(net_settings, geo_api_url="http://127.0.0.1:9", max_tries=2)
    with pytest.raises(NetworkError, match=r"cannot reach 127\.0\.0\.1:9 after 2 tries"):
        Http(settings).get_json("http://127.0.0.1:9/communes")


def test_errors_are_not_cached(httpserver, net_settings):
    httpserver.expect_ordered_request("/geo/x").respond_with_data("nope", status=404)
    httpserver.expect_ordered_request("/geo/x").respond_with_json([1])
    http = Http(net_settings)
    with pytest.raises(NetworkError, match="answered 404"):
        http.get_json(httpserver.url_for("/geo/x"))
    assert http.get_json(httpserver.url_for("/geo/x")) == [1]
