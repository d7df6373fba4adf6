"""Settings in one frozen object: defaults, then the environment, then flags."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from osmcams.errors import UsageError

PROJECT_URL = "https://github.com/osmcams/osmcams"

# Environment variable for each setting that can be set from outside.
ENV = {
    "overpass_url": "OSMCAMS_OVERPASS_URL",
    "geo_api_url": "OSMCAMS_GEO_API_URL",
    "download_url": "OSMCAMS_DOWNLOAD_URL",
    "osmfr_url": "OSMCAMS_OSMFR_URL",
    "ohsome_url": "OSMCAMS_OHSOME_URL",
    "cache_dir": "OSMCAMS_CACHE_DIR",
    "cache_ttl": "OSMCAMS_CACHE_TTL",
    "min_retry_wait": "OSMCAMS_MIN_RETRY_WAIT",
    "max_tries": "OSMCAMS_MAX_TRIES",
    "connect_timeout": "OSMCAMS_CONNECT_TIMEOUT",
    "read_timeout": "OSMCAMS_READ_TIMEOUT",
    "deadline": "OSMCAMS_DEADLINE",
    "max_answer_mb": "OSMCAMS_MAX_ANSWER_MB",
    "max_diff_mb": "OSMCAMS_MAX_DIFF_MB",
    "threads": "OSMCAMS_THREADS",
}
# Command-line flags of the settings that have one, to name them in errors.
FLAGS = {
    "overpass_url": "--overpass-url",
    "geo_api_url": "--geo-api-url",
    "download_url": "--download-url",
    "ohsome_url": "--ohsome-url",
    "cache_dir": "--cache-dir",
    "threads": "--threads",
}

URL_FIELDS = ("overpass_url", "geo_api_url", "download_url", "osmfr_url", "ohsome_url")


def _default_cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("osmcams"))


def _user_agent() -> str:
    from osmcams import __version__

    return f"osmcams/{__version__} (+{PROJECT_URL})"


@dataclass(frozen=True)
class Settings:
    """Everything that changes how osmcams talks to the world."""

    overpass_url: str = "https://overpass-api.de/api/interpreter"
    geo_api_url: str = "https://geo.api.gouv.fr"
    download_url: str = "https://download.geofabrik.de"
    osmfr_url: str = "https://download.openstreetmap.fr/extracts"
    ohsome_url: str = "https://api.ohsome.org/v1"
    cache_dir: Path = field(default_factory=_default_cache_dir)
    cache_ttl: int = 24 * 3600
    min_retry_wait: float = 30.0
    max_tries: int = 5
    connect_timeout: float = 10.0
    read_timeout: float = 300.0
    deadline: float = 900.0  # seconds for one whole request, however the server trickles
    max_answer_mb: int = 100  # larger service answers are refused
    # Larger replication diffs are refused: streamed to disk, not parsed in memory as an
    # answer is, and a planet daily diff is over 100 MB (docs/refresh.md).
    max_diff_mb: int = 500
    overpass_timeout: int = 180
    threads: int = 0
    offline: bool = False
    refresh: bool = False
    user_agent: str = field(default_factory=_user_agent)

    def __post_init__(self) -> None:
        if not isinstance(self.cache_dir, Path):  # a str, as a notebook writes it
            object.__setattr__(self, "cache_dir", Path(self.cache_dir))
        for name in URL_FIELDS:
            check_url(name, getattr(self, name))
        for name in ("connect_timeout", "read_timeout", "deadline"):
            _check_number(name, getattr(self, name), "a number of seconds above 0", strict=True)
        _check_number("min_retry_wait", self.min_retry_wait, "a number of seconds, 0 or more")
        _check_number("max_tries", self.max_tries, "a whole number of tries, 1 or more", 1)
        for name in ("max_answer_mb", "max_diff_mb"):
            _check_number(name, getattr(self, name), "a whole number of MB, 1 or more", 1)
        _check_number("cache_ttl", self.cache_ttl, "a whole number of seconds, 0 or more")
        _check_number("overpass_timeout", self.overpass_timeout, "a whole number of seconds", 1)
        _check_number("threads", self.threads, "0 (every core) or more")
        if self.offline and self.refresh:
            raise UsageError("--offline and --refresh contradict each other")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from defaults, then `env` (default os.environ), then overrides.

        Overrides that are None are ignored, so CLI flags can be passed as they come.
        """
        source = os.environ if env is None else env
        types = {f.name: f.type for f in fields(cls)}
        values: dict[str, Any] = {}
        for name, var in ENV.items():
            if source.get(var):
                values[name] = _convert(types[name], source[var], var)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return replace(cls(), **values) if values else cls()


def _convert(kind: object, raw: str, var: str) -> object:
    kind = str(kind)
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError as e:
        raise UsageError(f"{var} must be a number, not {raw!r}") from e
    return raw


def label(name: str) -> str:
    """How a user sets the setting `name`: its flag and its environment variable."""
    names = [n for n in (FLAGS.get(name), ENV.get(name)) if n]
    return " / ".join(names) or name.replace("_", " ")


def _check_number(name: str, value: object, what: str, low: float = 0, strict: bool = False) -> None:
    """Refuse NaN, infinities, booleans and values below `low` (or equal to it, if `strict`)."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not (number and math.isfinite(value) and (value > low if strict else value >= low)):  # type: ignore[arg-type,operator]
        raise UsageError(f"{label(name)} must be {what}, not {value!r}")


def check_url(name: str, url: str) -> None:
    """An http(s) URL with a host and, if any, a port in range."""
    try:
        parsed = urlparse(url)
        parsed.port  # noqa: B018 - raises ValueError when out of range
    except ValueError as e:
        raise UsageError(f"{label(name)} is not a valid URL ({e}): {public_url(url)!r}") from e
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise UsageError(f"{label(name)} must be an http or https URL: {public_url(url)!r}")


def public_text(text: str) -> str:
    """`text` with every URL in it as `public_url` gives it: for lines that others wrote (the
    log records of libraries, pyosmium's "Replication URL: …")."""
    import re

    return re.sub(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/?#]*@", r"\1", text)


def public_url(url: str) -> str:
    """`url` without the user name and password it may carry, for messages and metadata: all
    of its authority up to the last "@", as HTTP clients read it (a password may hold one)."""
    scheme, slashes, rest = url.partition("//")
    if not slashes:
        return url
    end = min([at for at in (rest.find(c) for c in "/?#") if at >= 0], default=len(rest))
    return scheme + slashes + rest[:end].rpartition("@")[2] + rest[end:]
