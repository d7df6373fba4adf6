"""Settings in one frozen object: defaults, then the environment, then flags."""

from __future__ import annotations

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
    "cache_dir": "OSMCAMS_CACHE_DIR",
    "cache_ttl": "OSMCAMS_CACHE_TTL",
    "min_retry_wait": "OSMCAMS_MIN_RETRY_WAIT",
    "max_tries": "OSMCAMS_MAX_TRIES",
    "connect_timeout": "OSMCAMS_CONNECT_TIMEOUT",
    "read_timeout": "OSMCAMS_READ_TIMEOUT",
    "threads": "OSMCAMS_THREADS",
}

URL_FIELDS = ("overpass_url", "geo_api_url", "download_url", "osmfr_url")


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
    cache_dir: Path = field(default_factory=_default_cache_dir)
    cache_ttl: int = 24 * 3600
    min_retry_wait: float = 30.0
    max_tries: int = 5
    connect_timeout: float = 10.0
    read_timeout: float = 300.0
    overpass_timeout: int = 180
    threads: int = 0
    offline: bool = False
    refresh: bool = False
    user_agent: str = field(default_factory=_user_agent)

    def __post_init__(self) -> None:
        for name in URL_FIELDS:
            url = getattr(self, name)
            parsed = urlparse(url)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                raise UsageError(f"{name.replace('_', '-')} must be an http or https URL: {url!r}")
        if self.offline and self.refresh:
            raise UsageError("--offline and --refresh contradict each other")
        if self.threads < 0:
            raise UsageError("threads must be 0 (all cores) or more")

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
        if "cache_dir" in values:
            values["cache_dir"] = Path(values["cache_dir"])
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
