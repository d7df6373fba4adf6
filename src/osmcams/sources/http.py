"""The one HTTP layer: session, User-Agent, timeouts, retries and the disk cache.

It knows nothing about OpenStreetMap. Library choices:

- requests sends the requests and streams downloads;
- urllib3's ``Retry`` (mounted on the session) retries 429, 502, 503 and 504 with
  exponential back-off, honours ``Retry-After`` and waits at least
  ``settings.min_retry_wait`` after a 429;
- requests-cache keeps answers in SQLite under ``settings.cache_dir``, keyed by a hash
  of the prepared request (method, URL, body), for ``settings.cache_ttl`` seconds.
  Only 200 answers are stored, and an answer that its caller rejects (invalid JSON,
  an Overpass runtime error) is removed again.

Only this module imports requests. One request runs at a time, in the whole process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from osmcams.errors import NetworkError, OsmcamsError
from osmcams.models import Progress
from osmcams.settings import Settings

if TYPE_CHECKING:
    import requests

RETRY_STATUSES = (429, 502, 503, 504)
MAX_WAIT = 600.0  # never sleep longer than this between two tries, whatever the server says
CHUNK = 1 << 16

Check = Callable[[Any], None]
"""Called with a decoded JSON answer; raises an OsmcamsError to reject it."""


_LOCK = threading.Lock()


def host(url: str) -> str:
    """The host part of `url`, to name a service in messages."""
    return urlparse(url).netloc or url


class Http:
    """HTTP access with the project's etiquette: one instance per run, built from settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._cached: Any = None
        self._plain: requests.Session | None = None

    # Public API -------------------------------------------------------------------

    def get_json(
        self, url: str, params: dict[str, str] | None = None, check: Check | None = None
    ) -> Any:
        """The JSON answer to a GET, from the cache when fresh. `check` may reject it."""
        return self._cached_request("GET", url, check, False, params=params)

    def post_json(
        self, url: str, data: dict[str, str], check: Check | None = None
    ) -> Any:
        """The JSON answer to a form POST, from the cache when fresh. `check` may reject it."""
        return self._cached_request("POST", url, check, False, data=data)

    def get_page(self, url: str) -> str:
        """A text page (such as a directory listing), from the cache when fresh."""
        return self._cached_request("GET", url, None, True)

    def is_cached(self, method: str, url: str, **kwargs: Any) -> bool:
        """Whether a usable answer to this request is in the cache (never true with refresh)."""
        if self.settings.refresh:
            return False
        import requests

        cache = self.cached_session.cache
        request = requests.Request(method, url, **kwargs).prepare()
        cached = cache.get_response(cache.create_key(request))
        return cached is not None and not cached.is_expired

    def get_text(self, url: str) -> str:
        """A live (uncached) text page, such as a status page."""
        self._refuse_offline(url)
        with _LOCK, _translate(url, self.settings):
            response = self.plain_session.get(url, timeout=self._timeouts)
            _raise_for_status(response, self.settings)
            return response.text

    def head(self, url: str) -> dict[str, str]:
        """The headers of `url` (live), such as Content-Length, ETag and Last-Modified."""
        self._refuse_offline(url)
        with _LOCK, _translate(url, self.settings):
            response = self.plain_session.head(url, timeout=self._timeouts, allow_redirects=True)
            _raise_for_status(response, self.settings)
            return dict(response.headers)

    def download(
        self, url: str, part: Path, if_range: str | None = None, progress: Progress | None = None
    ) -> None:
        """Stream `url` into `part`, resuming from its current size with an HTTP Range.

        `if_range` (an ETag or Last-Modified value) makes the server send the whole file
        again when it changed since the part was started. Whatever arrived before a
        failure stays in `part`, ready for the next resume.
        """
        self._refuse_offline(url)
        offset = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        if offset and if_range:
            headers["If-Range"] = if_range
        with _LOCK, _translate(url, self.settings):
            response = self.plain_session.get(
                url, headers=headers, stream=True, timeout=self._timeouts
            )
            with response:
                if response.status_code == 416:  # the part already holds the whole file
                    return
                _raise_for_status(response, self.settings)
                if response.status_code != 206:
                    offset = 0
                length = response.headers.get("Content-Length")
                total = offset + int(length) if length and length.isdigit() else None
                done = offset
                with part.open("ab" if offset else "wb") as out:
                    for chunk in response.iter_content(CHUNK):
                        out.write(chunk)
                        done += len(chunk)
                        if progress:
                            progress("download", done, total)

    # Sessions ---------------------------------------------------------------------

    @property
    def cached_session(self) -> Any:
        """A requests-cache session for API answers (created on first use)."""
        if self._cached is None:
            from requests_cache import CachedSession

            self.settings.cache_dir.mkdir(parents=True, exist_ok=True)
            self._cached = CachedSession(
                cache_name=str(self.settings.cache_dir / "http"),
                backend="sqlite",
                expire_after=self.settings.cache_ttl,
                allowable_methods=("GET", "POST"),
                allowable_codes=(200,),
                stale_if_error=self.settings.offline,  # offline, an old answer beats none
            )
            self._setup(self._cached)
        return self._cached

    @property
    def plain_session(self) -> requests.Session:
        """An uncached session for status pages, HEAD requests and downloads."""
        if self._plain is None:
            import requests

            self._plain = self._setup(requests.Session())
        return self._plain

    def _setup(self, session: requests.Session) -> requests.Session:
        from requests.adapters import HTTPAdapter

        session.headers["User-Agent"] = self.settings.user_agent
        adapter = HTTPAdapter(max_retries=make_retry(self.settings))
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    @property
    def _timeouts(self) -> tuple[float, float]:
        return (self.settings.connect_timeout, self.settings.read_timeout)

    def _refuse_offline(self, url: str) -> None:
        if self.settings.offline:
            raise NetworkError(f"offline: cannot fetch {url} (only cached answers are used)")

    def _cached_request(
        self, method: str, url: str, check: Check | None, text: bool, **kwargs: Any
    ) -> Any:
        session = self.cached_session
        with _LOCK, _translate(url, self.settings):
            response = session.request(
                method,
                url,
                timeout=self._timeouts,
                only_if_cached=self.settings.offline,
                force_refresh=self.settings.refresh,
                **kwargs,
            )
            if self.settings.offline and response.status_code == 504:  # requests-cache: a miss
                raise NetworkError(
                    f"offline: no cached answer from {host(url)} for this request; "
                    "run once without --offline"
                )
            _raise_for_status(response, self.settings)
            try:
                data = response.text if text else response.json()
                if check:
                    check(data)
            except (ValueError, OsmcamsError) as e:
                key = getattr(response, "cache_key", None)
                if key:
                    session.cache.delete(key)
                if isinstance(e, OsmcamsError):
                    raise
                raise NetworkError(
                    f"{host(url)} sent an answer that is not valid JSON (cut short?)"
                ) from e
            return data


def make_retry(settings: Settings) -> Any:
    """The urllib3 retry policy: bounded tries, exponential back-off, Retry-After honoured."""
    from urllib3.util.retry import Retry

    class _Retry(Retry):
        """Retry that waits at least `min_wait` after a 429 and at most MAX_WAIT."""

        min_wait = settings.min_retry_wait

        def sleep_for_retry(self, response: Any) -> bool:
            wait = self.get_retry_after(response) or 0.0
            if response.status == 429:
                wait = max(wait, self.min_wait)
            if wait <= 0:
                return False
            time.sleep(min(wait, MAX_WAIT))
            return True

    retries = max(settings.max_tries - 1, 0)
    return _Retry(
        total=retries,
        connect=retries,
        read=False,  # a slow answer is not sent again: it would only load the server more
        status=retries,
        other=0,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=None,  # Overpass queries are POSTs, and safe to repeat
        backoff_factor=min(2.0, settings.min_retry_wait),
        backoff_max=MAX_WAIT,
        raise_on_status=False,
        respect_retry_after_header=True,
    )


def _raise_for_status(response: requests.Response, settings: Settings) -> None:
    status = response.status_code
    if status < 400:
        return
    tries = f" after {settings.max_tries} tries" if status in RETRY_STATUSES else ""
    reason = f" {response.reason}" if response.reason else ""
    error = NetworkError(f"{host(response.url)} answered {status}{reason}{tries}")
    error.status = status
    raise error


@contextmanager
def _translate(url: str, settings: Settings) -> Iterator[None]:
    """Turn requests' exceptions into one-line NetworkErrors."""
    import requests

    name = host(url)
    try:
        yield
    except requests.Timeout as e:
        raise NetworkError(
            f"{name} did not answer within {settings.connect_timeout:g} s (connect) "
            f"or {settings.read_timeout:g} s (read)"
        ) from e
    except requests.exceptions.ChunkedEncodingError as e:
        raise NetworkError(f"the answer from {name} was cut short") from e
    except requests.ConnectionError as e:
        raise NetworkError(f"cannot reach {name} after {settings.max_tries} tries") from e
    except requests.RequestException as e:
        raise NetworkError(f"request to {name} failed: {e.__class__.__name__}") from e
