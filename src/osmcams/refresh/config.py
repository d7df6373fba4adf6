"""The refresh configuration: a TOML file, checked whole before any work.

Relative paths are relative to the file. A bad key is one line naming the key and the
file (exit 2).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from osmcams.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# Section -> key -> (type, what it must be).
KEYS: dict[str, dict[str, tuple[type | tuple[type, ...], str]]] = {
    "source": {
        "pbf": (str, "a path"),
        "region": (str, "a region name, such as osmfr:alpes_maritimes"),
        "replication_url": (str, "an http(s) URL"),
    },
    "communes": {
        "boundaries": ((list, str), "a path or a list of paths"),
        "population": (str, "a path"),
        "names": (list, "a list of names or INSEE codes"),
        "department": (str, "a department code, such as \"06\""),
        "all": (bool, "true or false"),
        "admin_level": (int, "a whole number from 1 to 12"),
        "code_field": (str, "a field name"),
        "name_field": (str, "a field name"),
    },
    "output": {"dir": (str, "a path")},
    "history": {"path": (str, "a path")},
    "site": {
        "dir": (str, "a path"),
        "title": (str, "a title"),
        "base_url": (str, "an http(s) URL, where the site is served"),
        "credit": (str, "a line of text"),
    },
}
REQUIRED = (("source", "pbf"), ("output", "dir"))
SITE_REQUIRED = ("dir", "title", "base_url")


@dataclass(frozen=True)
class SiteConfig:
    """Where the static site goes, its title, where it is served (for the feeds' links)."""

    dir: Path
    title: str
    base_url: str  # ends with "/"
    credit: str | None = None


@dataclass(frozen=True)
class Config:
    """A checked refresh configuration, with absolute paths."""

    path: Path
    pbf: Path
    output_dir: Path
    history: Path
    region: str | None = None
    replication_url: str | None = None
    boundaries: tuple[Path, ...] = ()
    population: Path | None = None
    names: tuple[str, ...] = ()
    department: str | None = None
    every: bool = False
    admin_level: int = 8
    code_field: str | None = None
    name_field: str | None = None
    site: SiteConfig | None = None

    def request(self) -> Any:
        """The communes and sources as a counting request."""
        from osmcams.counting import Request

        try:
            return Request(
                communes=self.names, department=self.department, every=self.every, pbf=self.pbf,
                boundaries=self.boundaries, population=self.population,
                admin_level=self.admin_level, code_field=self.code_field,
                name_field=self.name_field,
            )
        except UsageError as e:
            text = str(e).replace("--commune", "names").replace("--department", "department")
            raise UsageError(f"{self.path}: [communes] {text.replace('--all', 'all = true')}") from e


def _check(path: Path, data: dict[str, Any]) -> None:
    for section, values in data.items():
        if section not in KEYS:
            raise UsageError(f"{path}: unknown section [{section}] (known: {', '.join(KEYS)})")
        if not isinstance(values, dict):
            raise UsageError(f"{path}: [{section}] must be a table")
        for key, value in values.items():
            if key not in KEYS[section]:
                known = ", ".join(KEYS[section])
                raise UsageError(f"{path}: unknown key [{section}] {key} (known: {known})")
            kind, what = KEYS[section][key]
            ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
            if isinstance(value, list):
                ok = ok and bool(value) and all(isinstance(v, str) and v for v in value)
            if isinstance(value, str):
                ok = ok and bool(value.strip())
            if key == "admin_level" and ok:
                ok = 1 <= value <= 12
            if key in ("replication_url", "base_url") and ok:
                ok = value.startswith(("http://", "https://"))
            if not ok:
                raise UsageError(f"{path}: [{section}] {key} must be {what}, not {value!r}")
    for section, key in REQUIRED + tuple(("site", k) for k in SITE_REQUIRED if "site" in data):
        if key not in data.get(section, {}):
            raise UsageError(f"{path}: [{section}] {key} is required")


def load_config(path: str | Path) -> Config:
    """Read and check the TOML file at `path`."""
    path = Path(path).absolute()
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise UsageError(f"{path}: cannot read the configuration: {e.strerror or e}") from e
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{path}: not valid TOML: {e}") from e
    _check(path, data)
    source, communes = data["source"], data.get("communes", {})
    output = data["output"]

    def local(value: str) -> Path:
        return Path(os.path.normpath(path.parent / Path(value).expanduser()))

    output_dir = local(output["dir"])
    site = data.get("site")
    boundaries = communes.get("boundaries", ())
    config = Config(
        path=path,
        pbf=local(source["pbf"]),
        output_dir=output_dir,
        history=local(data.get("history", {}).get("path", str(output_dir / "history.sqlite"))),
        region=source.get("region"),
        replication_url=source.get("replication_url"),
        boundaries=tuple(local(b) for b in ([boundaries] if isinstance(boundaries, str) else boundaries)),
        population=local(communes["population"]) if "population" in communes else None,
        names=tuple(communes.get("names", ())),
        department=communes.get("department"),
        every=communes.get("all", False),
        admin_level=communes.get("admin_level", 8),
        code_field=communes.get("code_field"),
        name_field=communes.get("name_field"),
        site=site and SiteConfig(local(site["dir"]), site["title"].strip(),
                                 site["base_url"].rstrip("/") + "/", site.get("credit")),
    )
    config.request()  # the commune selection makes sense
    return config
