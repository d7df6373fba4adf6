"""The refresh configuration: a TOML file, checked whole before any work.

Relative paths are relative to the file. A bad key is one line naming the key and the
file (exit 2).
"""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from osmcams.counting import Request, check_selection
from osmcams.errors import DataError, UsageError
from osmcams.files import read_limited, unfinished_publish
from osmcams.models import TooDeep, parse_nested
from osmcams.settings import check_url, public_url

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
        "population_year": (str, "a year such as \"2021\""),
        "admin_level": (int, "a whole number from 1 to 12"),
        "code_field": (str, "a field name"),
        "name_field": (str, "a field name"),
    },
    "output": {"dir": (str, "a path")},
    "history": {"path": (str, "a path")},
    "site": {
        "dir": (str, "a path"),
        "title": (str, "a title"),
        "base_url": (str, "an absolute http(s) URL with a host and no query or fragment, where "
                          "the site is served"),
        "credit": (str, "a line of text"),
    },
}
REQUIRED = (("source", "pbf"), ("output", "dir"))
MAX_CONFIG_BYTES = 1 << 20


# How [communes] names each part of a selection (the command line's are in counting.py).
SPELLING = {"communes": "names", "department": "department", "every": "all = true", "region": "region",
            "population_year": "population_year", "population": "population"}


SITE_REQUIRED = ("dir", "title", "base_url")
SITE_STATE = "site.json"  # written into every site osmcams builds (refresh/site.py): its mark


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
    output_dir: Path
    history: Path
    request: Request  # the extract, the communes and their sources
    region: str | None = None
    replication_url: str | None = None
    site: SiteConfig | None = None

    @property
    def pbf(self) -> Path:
        """The extract that the diffs are applied to."""
        assert self.request.pbf is not None
        return self.request.pbf

    def check_inputs(self) -> None:
        """DataError, naming its key, for a boundary or population file that is not there:
        what a refresh or a backfill reads (history, changes and site do not)."""
        places = [("[communes] boundaries", place) for place in self.request.boundaries]
        if self.request.population is not None:
            places.append(("[communes] population", self.request.population))
        for key, place in places:
            if not place.exists():
                raise DataError(f"{self.path}: {key} {place}: no such file or directory")


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
                ok = ok and bool(value) and all(isinstance(v, str) and v and "\0" not in v for v in value)
            if isinstance(value, str):  # a NUL, which TOML lets \u0000 write, is in no path or name
                ok = ok and bool(value.strip()) and "\0" not in value
            if key == "admin_level" and ok:
                ok = 1 <= value <= 12
            if key in ("replication_url", "base_url") and ok:
                value = public_url(value)  # as shown: without its password
                try:
                    check_url(key, value)
                except UsageError:
                    ok = False
            if key == "base_url" and ok:  # the feeds' links: base_url + "communes/….html"
                ok = not any(c in "?#" or c.isspace() for c in value)
            if not ok:
                raise UsageError(f"{path}: [{section}] {key} must be {what}, not {value!r}")
    for section, key in REQUIRED + tuple(("site", k) for k in SITE_REQUIRED if "site" in data):
        if key not in data.get(section, {}):
            raise UsageError(f"{path}: [{section}] {key} is required")


def load_config(path: str | Path) -> Config:
    """Read and check the TOML file at `path`."""
    path = Path(path).absolute()
    try:
        data = parse_nested(tomllib.loads, read_limited(path, MAX_CONFIG_BYTES).decode("utf-8"))
    except OSError as e:
        raise UsageError(f"{path}: cannot read the configuration: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise UsageError(f"{path}: not UTF-8 text, as TOML must be (byte {e.start:,})") from e
    except (tomllib.TOMLDecodeError, TooDeep) as e:
        raise UsageError(f"{path}: not valid TOML: {e}") from e
    except ValueError as e:  # read_limited's
        raise UsageError(f"{path}: {e}: not a configuration") from e
    _check(path, data)
    source, communes = data["source"], data.get("communes", {})
    output = data["output"]

    def local(value: str) -> Path:
        return Path(os.path.normpath(path.parent / Path(value).expanduser()))

    output_dir = local(output["dir"])
    site = data.get("site")
    boundaries = communes.get("boundaries", ())
    names, department = tuple(communes.get("names", ())), communes.get("department")
    every, year = communes.get("all", False), communes.get("population_year")
    try:
        check_selection(names, department, every, None, year, SPELLING,
                        population=communes.get("population"))
    except UsageError as e:
        raise UsageError(f"{path}: [communes] {e}") from e
    request = Request(
        communes=names, department=department, every=every, pbf=local(source["pbf"]),
        boundaries=tuple(local(b) for b in ([boundaries] if isinstance(boundaries, str) else boundaries)),
        population=local(communes["population"]) if "population" in communes else None,
        population_year=year, admin_level=communes.get("admin_level", 8),
        code_field=communes.get("code_field"), name_field=communes.get("name_field"),
    )
    if request.boundaries and not request.boundary_files:
        raise UsageError(f"{path}: [communes] boundaries must be GIS files, not OSM files")
    config = Config(
        path=path,
        output_dir=output_dir,
        history=local(data.get("history", {}).get("path", str(output_dir / "history.sqlite"))),
        request=request,
        region=source.get("region"),
        replication_url=source.get("replication_url"),
        site=site and SiteConfig(local(site["dir"]), site["title"].strip(),
                                 site["base_url"].rstrip("/") + "/", site.get("credit")),
    )
    places = [("[output] dir", config.output_dir, "a directory"), ("the history", config.history, "a file"),
              ("[source] pbf", config.pbf, "a file")]
    if config.site is not None:  # refused before any run, not once it has published
        if config.site.dir.resolve() == config.output_dir.resolve():
            raise UsageError(f"{path}: [site] dir must not be [output] dir ({config.site.dir})")
        places.append(("[site] dir", config.site.dir, "a directory"))
    for what, place, kind in places:
        try:
            found = os.stat(place).st_mode
        except FileNotFoundError:
            continue
        except OSError as e:  # a name too long, a parent that is a file…
            raise UsageError(f"{path}: {what} cannot be used: {e.strerror}") from e
        if not (stat.S_ISDIR(found) if kind == "a directory" else stat.S_ISREG(found)):
            raise UsageError(f"{path}: {what} {place} is not {kind}")
    from osmcams.outputs.sets import FIXED
    from osmcams.sources.extent import poly_beside

    # What a run puts in [output] dir before it first publishes there: the history store
    # (and its -journal), the extract that `region` downloads (its .part first), its .poly;
    # or the folder there that holds one of them.
    own = [place.relative_to(config.output_dir).parts[0]
           for place in (config.history, config.pbf, poly_beside(config.pbf))
           if place.is_relative_to(config.output_dir) and place != config.output_dir]
    # A set is marked by its communes.csvt, or, published before it, by its other files.
    marks = [[FIXED["types"]], [FIXED[key] for key in ("table", "json", "cameras")]]
    folders: list[tuple[str, Path, list[list[str]], list[str], str]] = [
        ("[output] dir", config.output_dir, marks, own, "set of counts that a refresh published")]
    if config.site is not None:
        folders.append(("[site] dir", config.site.dir, [[SITE_STATE]], [], "site that osmcams built"))
    for what, folder, marked, beside, whose in folders:
        if not _ours_or_empty(folder, marked, beside, f"{path}: {what}"):
            raise UsageError(f"{path}: {what} {folder} holds files and no {marked[0][0]}: it is no {whose}, "
                             "and a run would replace or remove its files; give a new or empty folder")
    return config


def _ours_or_empty(folder: Path, marks: list[list[str]], own: list[str], what: str) -> bool:
    """Whether `folder` is missing, holds all the files of one of `marks` (files that osmcams
    writes there) or a set that a killed run was moving in (`unfinished_publish`), or holds
    nothing but hidden entries (.git, a lock, a dead run's .osmcams-tmp-…) and names that
    start with one of `own`."""
    try:
        names = set(os.listdir(folder))
    except FileNotFoundError:
        return True
    except OSError as e:
        raise UsageError(f"{what} cannot be listed: {e.strerror}") from e
    return (any(names.issuperset(mark) for mark in marks)
            or all(name.startswith((".", *own)) for name in names) or unfinished_publish(folder))
