"""The HTTP layer against a real local server: etiquette, retries, timeouts, cache."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest
from fake_services import Trickle, http_head
from werkzeug import Response

from osmcams import __version__
from osmcams.errors import ExitCode, NetworkError, UsageError
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


def test_a_cache_ttl_lowered_to_0_asks_again(httpserver, net_settings):
    """A record kept under a day's ttl is not served to a run whose ttl is 0."""
    httpserver.expect_ordered_request("/geo/x").respond_with_json({"n": 1})
    httpserver.expect_ordered_request("/geo/x").respond_with_json({"n": 2})
    url = httpserver.url_for("/geo/x")
    assert Http(net_settings).get_json(url) == {"n": 1}
    fresh_only = Http(replace(net_settings, cache_ttl=0))
    assert not fresh_only.is_cached("GET", url)
    assert fresh_only.get_json(url) == {"n": 2}
    assert len(httpserver.log) == 2


def test_offline_serves_expired_answers(httpserver, net_settings):
    from requests_cache.backends.sqlite import SQLiteCache

    httpserver.expect_request("/geo/x").respond_with_json({"n": 1})
    url = httpserver.url_for("/geo/x")
    Http(net_settings).get_json(url)
    SQLiteCache(net_settings.cache_dir / "http.sqlite").reset_expiration(0)  # expired now, no sleep
    assert Http(replace(net_settings, offline=True)).get_json(url) == {"n": 1}


def test_the_cache_gives_back_what_it_was_given(httpserver, net_settings):
    """None stays None, text stays text, codes keep their leading zeros, bytes are the server's."""
    answer = {"code": "06032", "nom": "Cap-d'Ail", "population": None, "departement": "06", "n": 7}
    body = json.dumps(answer, ensure_ascii=False).encode()
    httpserver.expect_oneshot_request("/geo/rt").respond_with_data(body, content_type="application/json")
    url = httpserver.url_for("/geo/rt")
    first = Http(net_settings).get_json(url)
    again = Http(replace(net_settings, offline=True)).get_json(url)
    assert first == again == answer and type(again["code"]) is str


@pytest.mark.parametrize("url, why", [
    ("http://127.0.0.1:9/communes", "the connection was refused"),
    ("http://osmcams-test.invalid/communes", "its name does not resolve"),
])
def test_unreachable_server_fails_at_once_and_says_so(net_settings, url, why):
    """The command that was run says how to do without (its own options: see below)."""
    with pytest.raises(NetworkError) as e:
        Http(replace(net_settings, max_tries=5, min_retry_wait=30)).get_json(url)
    assert why in str(e.value) and e.value.unreachable
    assert "tries" not in str(e.value) and "--pbf" not in str(e.value)


@pytest.mark.parametrize("command, hint", [
    (["count", "--commune", "Nice", "-q"],
     "; count from a file with --pbf, or from cached answers with --offline"),
    (["download", "communes", "--department", "06", "-q"], "; use the cached answers with --offline"),
    (["timeline", "--commune", "Nice", "-q"], "; count from a file with --pbf"),  # it said nothing
])
def test_without_network_each_command_suggests_its_own_options(capsys, command, hint):
    from osmcams.cli import main

    assert main(command) == 5
    err = capsys.readouterr().err
    assert "the connection was refused" in err and err.rstrip().endswith(hint)


def test_errors_are_not_cached(httpserver, net_settings):
    httpserver.expect_ordered_request("/geo/x").respond_with_data("nope", status=404)
    httpserver.expect_ordered_request("/geo/x").respond_with_json([1])
    http = Http(net_settings)
    with pytest.raises(NetworkError, match="answered 404"):
        http.get_json(httpserver.url_for("/geo/x"))
    assert http.get_json(httpserver.url_for("/geo/x")) == [1]


def test_500_is_tried_again(httpserver, net_settings):
    httpserver.expect_ordered_request("/geo/x").respond_with_data("oops", status=500)
    httpserver.expect_ordered_request("/geo/x").respond_with_json([1])
    assert Http(net_settings).get_json(httpserver.url_for("/geo/x")) == [1]


def test_a_trickling_server_meets_the_deadline(net_settings):
    body = b'{"elements": []}' + b" " * 100
    with Trickle(http_head(len(body)), body, pause=0.2) as server:
        settings = replace(net_settings, read_timeout=1.0, deadline=1.5)
        with pytest.raises(NetworkError, match=r"did not send its whole answer within 1\.5 s"):
            Http(settings).get_json(server.url + "/geo/x")


def test_a_stall_in_the_middle_of_the_body_says_so(net_settings):
    server = Trickle(http_head(1000) + b'{"elements": [', pause=0.0)
    with server, pytest.raises(NetworkError) as e:
        Http(replace(net_settings, read_timeout=0.5)).get_json(server.url + "/geo/x")
    assert "stopped sending in the middle of its answer" in str(e.value)
    assert "cannot reach" not in str(e.value)


def test_an_answer_over_the_limit_is_refused(httpserver, net_settings):
    chunk = b"[" + b"1," * 50_000

    def big(request):
        return Response(iter([chunk] * 30 + [b"1]"]), content_type="application/json")

    httpserver.expect_request("/api/x").respond_with_handler(big)
    with pytest.raises(NetworkError, match="larger than 1 MB, the limit set by OSMCAMS_MAX_ANSWER_MB"):
        Http(replace(net_settings, max_answer_mb=1)).get_json(httpserver.url_for("/api/x"))


def test_redirects_that_change_the_method_or_the_host_are_refused(httpserver, net_settings):
    other_host = httpserver.url_for("/api/y").replace("127.0.0.1", "localhost")
    httpserver.expect_request("/api/post302").respond_with_data(
        "", status=302, headers={"Location": "/api/y"})
    httpserver.expect_request("/api/away").respond_with_data(
        "", status=307, headers={"Location": other_host})
    httpserver.expect_request("/api/same").respond_with_data(
        "", status=307, headers={"Location": "/api/y"})
    httpserver.expect_request("/api/y").respond_with_json({"elements": []})
    http = Http(net_settings)
    with pytest.raises(NetworkError, match=r"\(302\), which would turn the POST into a GET: refused"):
        http.post_json(httpserver.url_for("/api/post302"), {"data": "q"})
    with pytest.raises(NetworkError, match=r"to http://localhost:\d+/api/y \(307\), which leaves"):
        http.post_json(httpserver.url_for("/api/away"), {"data": "q"})
    assert http.post_json(httpserver.url_for("/api/same"), {"data": "q"}) == {"elements": []}


def test_a_damaged_cache_is_moved_aside(httpserver, net_settings):
    net_settings.cache_dir.mkdir()
    (net_settings.cache_dir / "http.sqlite").write_bytes(b"this is not a database" * 100)
    httpserver.expect_request("/geo/x").respond_with_json([1])
    http = Http(net_settings)
    assert http.get_json(httpserver.url_for("/geo/x")) == [1]
    assert "was damaged: moved aside" in http.warnings[0]
    assert len(list(net_settings.cache_dir.glob("http.sqlite.damaged-*"))) == 1
    assert Http(replace(net_settings, offline=True)).get_json(httpserver.url_for("/geo/x")) == [1]


def test_a_cache_dir_given_as_text_is_a_path(httpserver, net_settings, tmp_path):
    """Settings(cache_dir="…"), as a notebook writes it, failed at the first request with
    AttributeError: 'str' object has no attribute 'exists'."""
    httpserver.expect_oneshot_request("/geo/x").respond_with_json({"n": 1})
    settings = replace(net_settings, cache_dir=str(tmp_path / "notebook"))
    assert settings.cache_dir == tmp_path / "notebook"
    assert Http(settings).get_json(httpserver.url_for("/geo/x")) == {"n": 1}
    assert Http(settings).get_json(httpserver.url_for("/geo/x")) == {"n": 1}  # from the cache
    assert (tmp_path / "notebook" / "http.sqlite").is_file()


def test_a_cache_dir_that_is_a_file_is_a_usage_error(httpserver, net_settings, tmp_path):
    settings = replace(net_settings, cache_dir=tmp_path / "file")
    settings.cache_dir.write_text("x")
    with pytest.raises(UsageError, match="is a file, not a directory"):
        Http(settings).get_json(httpserver.url_for("/geo/x"))


def test_credentials_never_appear_in_messages(httpserver, net_settings):
    httpserver.expect_request("/geo/x").respond_with_data("no", status=403)
    url = httpserver.url_for("/geo/x").replace("http://", "http://user:secret@")
    with pytest.raises(NetworkError) as e:
        Http(net_settings).get_json(url)
    assert "secret" not in str(e.value) and "answered 403" in str(e.value)


def test_status_is_told_what_the_run_waits_for(httpserver, net_settings):
    httpserver.expect_ordered_request("/geo/x").respond_with_data("busy", status=503)
    httpserver.expect_ordered_request("/geo/x").respond_with_json([1])
    told: list[str | None] = []
    Http(net_settings, status=told.append).get_json(httpserver.url_for("/geo/x"))
    host = httpserver.url_for("/").split("//")[1].rstrip("/")
    assert told == [f"waiting for {host}", f"{host} answered 503 SERVICE UNAVAILABLE; trying again in 0 s",
                    f"waiting for {host} (try 2 of 3)", None]


def test_an_http_error_names_the_url_without_its_credentials(httpserver, net_settings):
    httpserver.expect_request("/geo/communes").respond_with_data("nope", status=404)
    url = httpserver.url_for("/geo/communes")
    secret = url.replace("://", "://bob:Hunter2Secret@")
    with pytest.raises(NetworkError) as e:
        Http(net_settings).get_json(secret, {"code": "06012"})
    assert str(e.value) == f"{url}?code=06012 answered 404 NOT FOUND"
    assert "Hunter2" not in str(e.value)


@pytest.mark.parametrize("stamp", ["-0000", ""])
def test_a_retry_after_date_without_a_zone_is_utc(httpserver, net_settings, stamp):
    """`Retry-After: Mon, 07 Dec 2026 04:40:00 -0000` (or no zone) was a traceback: naive
    and aware datetimes cannot be subtracted."""
    from datetime import datetime, timedelta, timezone
    from email.utils import format_datetime

    soon = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=1), usegmt=True)
    httpserver.expect_ordered_request("/api/x").respond_with_data(
        "busy", status=429, headers={"Retry-After": soon.replace(" GMT", f" {stamp}".rstrip())})
    httpserver.expect_ordered_request("/api/x").respond_with_json([])
    assert Http(net_settings).get_json(httpserver.url_for("/api/x")) == []


def test_a_wait_longer_than_osmcams_waits_fails_at_once(httpserver, net_settings):
    """Retry-After: 700 was cut to 600 s: the next try came before the server allowed it."""
    httpserver.expect_request("/api/x").respond_with_data("busy", status=429, headers={"Retry-After": "700"})
    start = time.monotonic()
    with pytest.raises(NetworkError, match="asks to wait 700 s, more than osmcams waits"):
        Http(replace(net_settings, deadline=2000)).get_json(httpserver.url_for("/api/x"))
    assert time.monotonic() - start < 5 and len(httpserver.log) == 1


def test_redirects_to_another_port_or_an_unreadable_address_are_refused(httpserver, net_settings):
    """A port is another service (the POST went to it); `http://[::1/x` was a traceback."""
    elsewhere = httpserver.url_for("/api/y").replace(f":{httpserver.port}", f":{httpserver.port + 1}")
    httpserver.expect_request("/api/port").respond_with_data("", status=307, headers={"Location": elsewhere})
    http = Http(net_settings)
    with pytest.raises(NetworkError, match=r"\(307\), which leaves 127\.0\.0\.1"):
        http.post_json(httpserver.url_for("/api/port"), {"data": "q"})
    head = b"HTTP/1.1 302 Found\r\nLocation: http://[::1/x\r\nContent-Length: 0\r\n\r\n"
    with Trickle(head, limit=3) as server, pytest.raises(NetworkError, match=r"cannot be read .*: refused"):
        http.get_json(f"{server.url}/api/bad")
