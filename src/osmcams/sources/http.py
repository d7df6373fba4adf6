"""The one HTTP layer: session, User-Agent, timeouts, deadline, retries, redirects, cache.

It knows nothing about OpenStreetMap. Library choices:

- requests sends the requests and streams every answer; osmcams reads the bodies
  itself, so that it can bound them in size (``settings.max_answer_mb``) and in time
  (``settings.deadline`` for one whole request, its tries and the waits between them
  included, however slowly the server trickles);
- tries are counted here: 429, 5xx and connect timeouts are tried again, up to
  ``settings.max_tries``, with exponential back-off and ``Retry-After`` honoured
  (at least ``settings.min_retry_wait`` after a 429). A name that does not resolve,
  a refused connection or a read timeout fail at once;
- redirects are followed by hand, and only when they keep the method and the host;
- requests-cache's SQLite store keeps answers under ``settings.cache_dir``, keyed by
  a hash of the prepared request (method, URL, body), for ``settings.cache_ttl``
  seconds. Only answers that their caller accepts are stored. A damaged store is
  moved aside with a warning, and a new one started.

Only this module imports requests. One request runs at a time, in the whole process.
"""

from __future__ import annotations

import codecs
import email.utils
import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urljoin, urlparse

from osmcams.errors import NetworkError, OsmcamsError, UsageError
from osmcams.models import Progress, TooDeep, parse_nested
from osmcams.settings import Settings, label, public_url

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import requests

RETRY_STATUSES = (429, 500, 502, 503, 504)
MAX_WAIT = 600.0  # never sleep longer than this between two tries, whatever the server says
A_YEAR = 365 * 86_400  # seconds: a longer wait asked for is read as a year and a second
MAX_REDIRECTS = 5
CHUNK = 1 << 16
MIN_RATE = 50_000  # bytes/s a download may not fall below on average, beyond the deadline
ERROR_BODY = 4096  # bytes of an error answer kept for its message
AS_STORED = {"Accept-Encoding": "identity"}  # a file's own bytes, not compressed for the way

Check = Callable[[Any], None]
"""Called with a decoded JSON answer; raises an OsmcamsError to reject it."""
Parse = Callable[[bytes, "str | None"], Any]
"""Turns a body (and its declared encoding) into a result; an OsmcamsError rejects it."""
Status = Callable[[str | None], None]
"""Told what the run waits for (a line to show), then None when the wait is over."""
T = TypeVar("T")
Reader = Callable[["requests.Response", threading.Event], T]

_LOCK = threading.Lock()

MAX_SHOWN = 300  # characters of a URL shown in a message


def host(url: str) -> str:
    """The host (and port) of `url`, without credentials, to name a service in messages."""
    return urlparse(url).netloc.rpartition("@")[2] or public_url(url)


def check_wait(wait: float, end: float, who: str) -> None:
    """NetworkError when waiting `wait` seconds would pass `end` (a time.monotonic() value,
    the deadline): `who` ("… asks") names who asked for the wait."""
    left = end - time.monotonic()
    if wait >= left:
        raise NetworkError(
            f"{who} to wait {shown_wait(wait)}, more than the {max(left, 0):,.0f} s left before the "
            f"deadline ({label('deadline')}); try later"
        )


def asked_seconds(digits: str) -> float:
    """A wait written as ASCII digits (a Retry-After, a status page), at most a year and a
    second: int() refuses 4,300 digits, and float() makes inf of 400."""
    digits = digits.lstrip("0")
    return float(A_YEAR + 1) if len(digits) > len(str(A_YEAR)) else min(float(digits or 0), A_YEAR + 1)


def shown_wait(seconds: float) -> str:
    """A wait in a message: "1,200 s", or "more than a year"."""
    return "more than a year" if seconds > A_YEAR else f"{seconds:,.0f} s"


def unexpected(service: str, detail: str) -> NetworkError:
    """The error for an answer that is valid JSON but not of the shape the service promises."""
    return NetworkError(f"the service answered something unexpected: {service} {detail}")


def is_point(value: Any) -> bool:
    """Whether `value` is a {"lat": …, "lon": …} object with finite coordinates in range."""
    if not isinstance(value, dict):
        return False
    lat, lon = value.get("lat"), value.get("lon")
    return all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) <= limit
        for v, limit in ((lat, 90), (lon, 180))
    )


class _Again(Exception):
    """A failure that another try may cure: 429, 5xx, a connect timeout."""

    def __init__(self, message: str, status: int = 0, wait: float | None = None) -> None:
        super().__init__(message)
        self.status, self.wait = status, wait


class Http:
    """HTTP access with the project's etiquette: one instance per run, built from settings.

    `status` is told what the run is waiting for. Warnings about the cache collect in
    `warnings`, for the caller to report.
    """

    def __init__(self, settings: Settings, status: Status | None = None) -> None:
        self.settings = settings
        self.status = status
        self.warnings: list[str] = []
        self._store: Any = None
        self._session: requests.Session | None = None

    # Public API -------------------------------------------------------------------

    def get_json(
        self, url: str, params: dict[str, str] | None = None, check: Check | None = None
    ) -> Any:
        """The JSON answer to a GET, from the cache when fresh. `check` may reject it."""
        return self._cached_request("GET", url, json_parser(url, check), RETRY_STATUSES,
                                    params=params)

    def post_json(
        self, url: str, data: dict[str, str], check: Check | None = None
    ) -> Any:
        """The JSON answer to a form POST, from the cache when fresh. `check` may reject it."""
        return self.post(url, data, json_parser(url, check))

    def post(
        self, url: str, data: dict[str, str], parse: Parse,
        retry: tuple[int, ...] = RETRY_STATUSES,
    ) -> Any:
        """A form POST's answer as `parse` reads it, from the cache when fresh.

        `parse` gets the raw body, so that it can read a large answer as a stream.
        `retry`: the statuses tried again; others fail at once, with the status and the
        start of the body on the NetworkError (for a caller that reacts to them).
        """
        return self._cached_request("POST", url, parse, retry, data=data)

    def get_page(self, url: str) -> str:
        """A text page (such as a directory listing), from the cache when fresh."""
        return self._cached_request("GET", url, _text, RETRY_STATUSES)

    def is_cached(self, method: str, url: str, **kwargs: Any) -> bool:
        """Whether a usable answer to this request is in the cache (never true with refresh)."""
        if self.settings.refresh:
            return False
        cached = self._lookup(self._key(method, url, **kwargs))
        return cached is not None and self._fresh(cached)

    def get_text(self, url: str) -> str:
        """A live (uncached) text page, such as a status page."""
        self._refuse_offline(url)
        response, body = self._fetch("GET", url, self._body_reader(url))
        return _text(body, response.encoding)

    def head(self, url: str) -> dict[str, str]:
        """The headers of `url` (live) as `download` gets it, such as Content-Length, ETag
        and Last-Modified."""
        self._refuse_offline(url)

        def read(response: requests.Response, cancel: threading.Event) -> dict[str, str]:
            response.close()
            return dict(response.headers)

        return self._fetch("HEAD", url, read, headers=AS_STORED)

    def download(
        self,
        url: str,
        part: Path,
        if_range: str | None = None,
        progress: Progress | None = None,
        size: int | None = None,
        bound: str | None = None,
    ) -> None:
        """Stream `url` into `part`, resuming from its current size with an HTTP Range.

        `if_range` (an ETag or Last-Modified value) makes the server send the whole file
        again when it changed since the part was started. Whatever arrived before a
        failure stays in `part`, ready for the next resume. The deadline grows with the
        expected `size`, at MIN_RATE. The file is asked for and kept as the server holds
        it (Accept-Encoding: identity, nothing decoded), since its sizes, ranges and MD5
        are those of these bytes, and a `.osc.gz` labelled gzip-encoded stays gzip.
        `bound`: the setting in MB (max_diff_mb) beyond which a service's file (a
        replication diff), not an extract, is refused, announced or not.
        """
        self._refuse_offline(url)
        limit = getattr(self.settings, bound) * 1_000_000 if bound else None
        offset = part.stat().st_size if part.exists() else 0
        headers = dict(AS_STORED)
        if offset:
            headers["Range"] = f"bytes={offset}-"
        if offset and if_range:
            headers["If-Range"] = if_range

        def read(response: requests.Response, cancel: threading.Event) -> None:
            with response:
                if response.status_code == 416:  # the part already holds the whole file
                    return
                start = offset if response.status_code == 206 else 0
                ranged = response.headers.get("Content-Range", "")
                sent = re.fullmatch(r"bytes (\d+)-\d+/(?:\d+|\*)", ranged)
                if response.status_code == 206 and sent and int(sent.group(1)) != offset:
                    raise NetworkError(f"{host(url)} sent bytes from {int(sent.group(1)):,} when asked "
                                       f"from {offset:,}: refused")
                length = content_length(response.headers)
                total = None if length is None else start + length
                most = total if total is not None else size  # what was announced, at most
                if limit is not None and most is not None and most > limit:
                    raise self._too_big(url, bound)
                done = start
                with part.open("ab" if start else "wb") as out:
                    for chunk in _chunks(response, cancel, decode=False):
                        out.write(chunk)
                        done += len(chunk)
                        if limit is not None and done > limit:
                            raise self._too_big(url, bound)
                        if most is not None and done > most:
                            raise NetworkError(f"{host(url)} sent more than the {most:,} bytes it "
                                               "announced: refused")
                        if progress:
                            progress("download", done, total)

        deadline = self.settings.deadline + (size or 0) / MIN_RATE
        self._fetch("GET", url, read, deadline, headers=headers, accept=(416,))

    def notify(self, text: str | None) -> None:
        """Tell the status callback what the run waits for (None: nothing any more)."""
        if self.status:
            self.status(text)

    # Tries, deadline and redirects -------------------------------------------------

    def _fetch(
        self, method: str, url: str, read: Reader[T], deadline: float | None = None,
        accept: tuple[int, ...] = (), retry: tuple[int, ...] = RETRY_STATUSES, **kwargs: Any,
    ) -> T:
        """Send a request, try again what may recover, and `read` the answer of each try:
        the tries and the waits between them all within the deadline."""
        tries = self.settings.max_tries
        name = host(url)
        budget = deadline or self.settings.deadline
        end = time.monotonic() + budget
        with _LOCK:
            try:
                for attempt in range(1, tries + 1):
                    self.notify(f"waiting for {name}" + (
                        f" (try {attempt} of {tries})" if attempt > 1 else ""))
                    try:
                        return self._within(
                            url, budget if attempt == 1 else end - time.monotonic(),
                            lambda cancel: self._try(
                                method, url, read, cancel, accept, retry, **kwargs),
                        )
                    except _Again as again:
                        if attempt == tries:
                            after = f" after {tries} tries" if tries > 1 else ""
                            error = NetworkError(f"{again}{after}")
                            error.status = again.status or None
                            raise error from None
                        wait = self._wait(again, attempt)
                        asked = again.wait or 0
                        check_wait(max(asked, wait), end, f"{again}; it asks")
                        if asked > MAX_WAIT:  # sooner would be to ask too early
                            raise NetworkError(
                                f"{again}; it asks to wait {shown_wait(asked)}, more than osmcams "
                                f"waits ({MAX_WAIT:,.0f} s); try later") from None
                        self.notify(f"{again}; trying again in {wait:.0f} s")
                        time.sleep(wait)
            finally:
                self.notify(None)
        raise AssertionError("unreachable")

    def _wait(self, again: _Again, attempt: int) -> float:
        backoff = min(2.0, self.settings.min_retry_wait) * 2 ** (attempt - 1)
        wait = again.wait if again.wait is not None else backoff
        if again.status == 429:
            wait = max(wait, self.settings.min_retry_wait)
        return min(wait, MAX_WAIT)

    def _within(self, url: str, seconds: float, work: Callable[[threading.Event], T]) -> T:
        """Run one try in a worker thread, and give up on it after `seconds`."""
        cancel = threading.Event()
        done = threading.Event()
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                outcome["value"] = work(cancel)
            except BaseException as e:  # handed over to the waiting thread
                outcome["error"] = e
            finally:
                done.set()

        threading.Thread(target=run, name="osmcams-http", daemon=True).start()
        try:
            finished = done.wait(seconds)
        finally:
            if not done.is_set():
                cancel.set()  # the worker stops at its next chunk
                self._session = None  # never share a session with an abandoned worker
        if not finished:
            raise NetworkError(
                f"{host(url)} did not send its whole answer within {seconds:g} s "
                f"(the deadline of a request, {label('deadline')})"
            )
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]

    def _try(
        self, method: str, url: str, read: Reader[T], cancel: threading.Event,
        accept: tuple[int, ...], retry: tuple[int, ...], **kwargs: Any,
    ) -> T:
        with _translate(url, self.settings):
            return read(self._open(method, url, accept, retry, **kwargs), cancel)

    def _open(
        self, method: str, url: str, accept: tuple[int, ...], retry: tuple[int, ...],
        **kwargs: Any,
    ) -> requests.Response:
        """Send the request and follow the redirects that keep its method and host."""
        import requests

        session = self._session or self._new_session()
        timeouts = (self.settings.connect_timeout, self.settings.read_timeout)
        target = url
        for _ in range(MAX_REDIRECTS + 1):
            try:  # requests reads a redirect's address even when it does not follow it
                response = session.request(
                    method, target, stream=True, allow_redirects=False, timeout=timeouts, **kwargs
                )
                if not response.is_redirect:
                    break
                response.close()
                target = urljoin(response.url, response.headers["location"])
                _check_redirect(method, url, target, response.status_code)
            except ValueError as e:  # an address urllib cannot read ("http://[::1/x")
                if isinstance(e, requests.RequestException):
                    raise
                raise NetworkError(f"{host(url)} redirected the request to an address that cannot "
                                   f"be read ({e}): refused") from None
        else:
            raise NetworkError(f"{host(url)} redirected more than {MAX_REDIRECTS} times: refused")
        status = response.status_code
        if status < 400 or status in accept:
            return response
        reason = f" {response.reason}" if response.reason else ""
        message = f"{host(url)} answered {status}{reason}"
        if status in retry:
            response.close()
            raise _Again(message, status, _retry_after(response.headers.get("Retry-After")))
        asked = public_url(response.url or target)  # which URL, without its credentials
        error = NetworkError(f"{asked if len(asked) <= MAX_SHOWN else asked[:MAX_SHOWN] + '…'} "
                             f"answered {status}{reason}")
        error.status = status
        with response:
            error.detail = response.raw.read(ERROR_BODY, decode_content=True)
        raise error

    def _new_session(self) -> requests.Session:
        import requests

        session = requests.Session()
        session.headers["User-Agent"] = self.settings.user_agent
        self._session = session
        return session

    def _too_big(self, url: str, bound: str | None = None) -> NetworkError:
        """The error for an answer beyond the setting `bound` in MB (max_answer_mb unless
        given)."""
        bound = bound or "max_answer_mb"
        error = NetworkError(
            f"the answer from {host(url)} is larger than {getattr(self.settings, bound)} MB, "
            f"the limit set by {label(bound)}: refused"
        )
        error.too_large = True
        return error

    def _body_reader(self, url: str) -> Reader[tuple[requests.Response, bytes]]:
        """A reader that keeps the body in memory, refusing it beyond max_answer_mb."""
        limit = self.settings.max_answer_mb * 1_000_000

        def read(
            response: requests.Response, cancel: threading.Event
        ) -> tuple[requests.Response, bytes]:
            with response:
                length = content_length(response.headers)
                if length is not None and length > limit:
                    raise self._too_big(url)
                body = bytearray()
                for chunk in _chunks(response, cancel):
                    body += chunk
                    if len(body) > limit:
                        raise self._too_big(url)
                return response, bytes(body)

        return read

    # The cache --------------------------------------------------------------------

    def _cached_request(
        self, method: str, url: str, parse: Parse, retry: tuple[int, ...], **kwargs: Any
    ) -> Any:
        key = self._key(method, url, **kwargs)
        cached = None if self.settings.refresh else self._lookup(key)
        log.debug("%s %s: %s", method, public_url(url), "cached" if cached is not None else "not cached")
        if cached is not None and (self.settings.offline or self._fresh(cached)):
            try:
                return parse(cached.content, cached.encoding)
            except OsmcamsError:
                self._guard(lambda store: store.delete(key))
                raise
        if self.settings.offline:
            raise NetworkError(
                f"offline: no cached answer from {host(url)} for this request; "
                "run once without --offline"
            )
        response, body = self._fetch(method, url, self._body_reader(url), retry=retry, **kwargs)
        data = parse(body, response.encoding)
        if self.settings.cache_ttl > 0:
            self._save(key, response, body)
        return data

    def _fresh(self, cached: Any) -> bool:
        """Whether a cached answer is younger than this run's cache_ttl (not the one it was
        stored under: a ttl lowered to 0 since is not overruled by a day-old record)."""
        age = datetime.now(timezone.utc) - cached.created_at
        return age < timedelta(seconds=self.settings.cache_ttl)

    def _key(self, method: str, url: str, **kwargs: Any) -> str:
        import requests

        request = requests.Request(method, url, **kwargs).prepare()
        return self._guard(lambda store: store.create_key(request)) or ""

    def _lookup(self, key: str) -> Any:
        return self._guard(lambda store: store.get_response(key)) if key else None

    def _save(self, key: str, response: requests.Response, body: bytes) -> None:
        """Keep `body` (read, and bounded, by the project's own reader) as requests-cache's record."""
        from requests_cache import CachedRequest, CachedResponse

        expires = datetime.now(timezone.utc) + timedelta(seconds=self.settings.cache_ttl)
        cached = CachedResponse(
            content=body, encoding=response.encoding,  # type: ignore[arg-type]  # None is its default
            headers=response.headers,
            status_code=response.status_code, reason=response.reason, url=response.url,
            request=CachedRequest.from_request(response.request), expires=expires,
        )
        self._guard(lambda store: store.save_response(cached, key, expires))

    def _guard(self, operation: Callable[[Any], T]) -> T | None:
        """Run `operation` on the store; a store that fails is left for the rest of the run."""
        store = self._open_store()
        if store is None:
            return None
        try:
            return operation(store)
        except sqlite3.Error as e:
            self.warnings.append(f"the HTTP cache failed ({e}); going on without it")
            self._store = False
            return None

    def _open_store(self) -> Any:
        if self._store is False:
            return None
        if self._store is None:
            from requests_cache.backends.sqlite import SQLiteCache

            path = cache_directory(self.settings) / "http.sqlite"
            if _damaged(path):
                stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
                aside = path.with_name(f"{path.name}.damaged-{stamp}")
                os.replace(path, aside)
                self.warnings.append(
                    f"the HTTP cache {path} was damaged: moved aside to {aside.name}, "
                    "and a new one started"
                )
            self._store = SQLiteCache(path)
        return self._store

    def _refuse_offline(self, url: str) -> None:
        if self.settings.offline:
            raise NetworkError(
                f"offline: cannot fetch {public_url(url)} (only cached answers are used)"
            )


def cache_directory(settings: Settings) -> Path:
    """The cache directory, created if needed; a UsageError when it cannot be used."""
    directory = settings.cache_dir
    where = f"the cache directory {directory} ({label('cache_dir')})"
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{where} is a file, not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot create {where}: {e.strerror}") from e
    if not os.access(directory, os.R_OK if settings.offline else os.R_OK | os.W_OK | os.X_OK):
        raise UsageError(f"{where} is not writable; choose another one")
    return directory


def _damaged(path: Path) -> bool:
    """Whether the SQLite file at `path` exists but cannot be read as a database."""
    if not path.is_file():
        return False
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            return db.execute("PRAGMA quick_check").fetchone()[0] != "ok"
    except sqlite3.DatabaseError:
        return True


def json_parser(url: str, check: Check | None = None) -> Parse:
    """A Parse that decodes JSON, which `check` may then reject."""

    def parse(body: bytes, encoding: str | None) -> Any:
        import json

        try:
            data = parse_nested(json.loads, body)
        except TooDeep as e:
            raise NetworkError(f"{host(url)} sent an answer {e}: refused") from e
        except ValueError as e:
            raise not_json(url) from e
        if check:
            check(data)
        return data

    return parse


def not_json(url: str) -> NetworkError:
    """The error for an answer that is not JSON at all."""
    return NetworkError(f"{host(url)} sent an answer that is not valid JSON (cut short?)")


def _text(body: bytes, encoding: str | None) -> str:
    """`body` decoded; one that starts with a UTF-8 byte order mark is UTF-8, the mark dropped
    (whatever the header says, as browsers, osmosis and pyosmium read it)."""
    if body.startswith(codecs.BOM_UTF8):
        return body[len(codecs.BOM_UTF8):].decode("utf-8", errors="replace")
    return body.decode(encoding or "utf-8", errors="replace")


def _chunks(
    response: requests.Response, cancel: threading.Event, decode: bool = True
) -> Iterator[bytes]:
    """The body, decoded as its Content-Encoding says, or (`decode` false) as sent."""
    for chunk in response.iter_content(CHUNK) if decode else _as_sent(response):
        if cancel.is_set():
            raise NetworkError("abandoned at the deadline")
        yield chunk


def _as_sent(response: requests.Response) -> Iterator[bytes]:
    """The body as the server sent it, with urllib3's errors raised as requests raises
    them from iter_content (for `_translate`)."""
    import requests
    from urllib3.exceptions import ProtocolError, ReadTimeoutError

    try:
        yield from response.raw.stream(CHUNK, decode_content=False)
    except ProtocolError as e:
        raise requests.exceptions.ChunkedEncodingError(e) from e
    except ReadTimeoutError as e:
        raise requests.ConnectionError(e) from e


def _check_redirect(method: str, url: str, target: str, status: int) -> None:
    """Refuse a redirect that would change the method or leave the configured host."""
    changes_method = status in (301, 302, 303) and method not in ("GET", "HEAD")
    leaves = _origin(target) != _origin(url)
    if changes_method or leaves:
        why = f"would turn the {method} into a GET" if changes_method else f"leaves {host(url)}"
        raise NetworkError(
            f"{host(url)} redirected the request to {public_url(target)} ({status}), "
            f"which {why}: refused"
        )


def _origin(url: str) -> tuple[str | None, int | None]:
    """The host and port a request to `url` goes to (http and https on their own ports the
    same service: a redirect to https is not one to another host). ValueError for an
    address with a port that cannot be read."""
    parts = urlparse(url)
    port = parts.port
    return parts.hostname, None if port in (None, 80, 443) else port


def content_length(headers: Mapping[str, str]) -> int | None:
    """The Content-Length header as a number, None when absent or not one ("²", "-1"); one
    of more than 19 digits (int() refuses 4,300) as 10**19 bytes, more than any disk holds."""
    value = headers.get("Content-Length", "").strip()
    if not re.fullmatch("[0-9]+", value):
        return None
    value = value.lstrip("0") or "0"
    return int(value) if len(value) <= 19 else 10**19


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait according to a Retry-After header (seconds or an HTTP date)."""
    if not value:
        return None
    if re.fullmatch("[0-9]+", value.strip()):  # "²" is a digit to str.isdigit, not to float()
        return asked_seconds(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000" or no zone: HTTP dates are in UTC
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


@contextmanager
def _translate(url: str, settings: Settings) -> Iterator[None]:
    """Turn requests' exceptions into one-line errors; the recoverable ones into _Again."""
    import requests
    from urllib3.exceptions import NameResolutionError, NewConnectionError, ReadTimeoutError

    name = host(url)
    try:
        yield
    except requests.ConnectTimeout as e:
        raise _Again(
            f"{name} did not accept a connection within {settings.connect_timeout:g} s"
        ) from e
    except requests.ReadTimeout as e:
        raise NetworkError(f"{name} did not answer within {settings.read_timeout:g} s") from e
    except requests.exceptions.ChunkedEncodingError as e:
        raise NetworkError(f"the answer from {name} was cut short") from e
    except requests.ConnectionError as e:
        reason = _reason(e)
        if isinstance(reason, ReadTimeoutError):
            raise NetworkError(
                f"{name} stopped sending in the middle of its answer "
                f"(nothing for {settings.read_timeout:g} s)"
            ) from e
        if isinstance(reason, (NameResolutionError, NewConnectionError)):
            raise _refused(name, reason) from e
        raise NetworkError(f"the connection to {name} broke before it answered") from e
    except requests.RequestException as e:
        raise NetworkError(f"request to {name} failed: {e.__class__.__name__}") from e


def _reason(error: Exception) -> object:
    """The urllib3 exception behind a requests exception."""
    inner = error.args[0] if error.args else None
    return getattr(inner, "reason", inner)


def _refused(name: str, reason: object) -> NetworkError:
    from urllib3.exceptions import NameResolutionError

    why = "its name does not resolve" if isinstance(reason, NameResolutionError) else (
        "the connection was refused")
    error = NetworkError(f"cannot reach {name}: {why}")
    error.unreachable = True
    return error
