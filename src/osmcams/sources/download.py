"""Extract catalogues (Geofabrik, openstreetmap.fr) and resumable, verified downloads.

A download goes to ``<name>.part`` beside its target and resumes from there with an
HTTP Range. It becomes the target (``os.replace``) only once its MD5 matches the
published ``.md5``; a mismatch deletes it. A sidecar ``<name>.json`` keeps the URL (without
its password), ETag and Last-Modified of the download, so an unchanged extract is not
fetched again.
The provider's ``<name>.poly``, the polygon the extract was cut with, is kept beside it.
"""

from __future__ import annotations

import difflib
import errno
import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlparse

from osmcams.communes.names import normalise
from osmcams.errors import DataError, NetworkError, OsmcamsError, OutputError, UsageError
from osmcams.files import exclusive_lock
from osmcams.models import Progress, parse_nested
from osmcams.settings import public_url
from osmcams.sources.extent import parse_poly, poly_beside
from osmcams.sources.http import Http, content_length, unexpected

PBF_SUFFIX = "-latest.osm.pbf"
CATALOGUES = {"geofabrik": "Geofabrik", "osmfr": "openstreetmap.fr"}
OSMFR_ROOT = "europe/france/"
SPARE_BYTES = 64 << 20  # keep this much disk free beyond the download itself


@dataclass(frozen=True)
class Region:
    """One downloadable extract of a catalogue."""

    id: str
    name: str
    url: str
    catalogue: str  # "geofabrik" or "osmfr"
    parent: str | None = None

    @property
    def key(self) -> str:
        """The name that selects this region unambiguously, such as ``osmfr:loire_atlantique``."""
        return f"{self.catalogue}:{self.id}"


@dataclass(frozen=True)
class Plan:
    """What a download would fetch, learnt from a HEAD request before it starts."""

    region: Region
    target: Path
    size: int | None
    validator: dict[str, str]  # ETag and Last-Modified, as the server sent them
    up_to_date: bool


def geofabrik_regions(http: Http) -> list[Region]:
    """The regions of Geofabrik's ``index-v1.json`` that have a PBF extract."""
    url = http.settings.download_url.rstrip("/") + "/index-v1.json"
    index = http.get_json(url, check=_check_index)
    regions = []
    for feature in index["features"]:
        props = feature.get("properties") or {}
        pbf = (props.get("urls") or {}).get("pbf")
        if props.get("id") and pbf:
            regions.append(
                Region(props["id"], props.get("name", props["id"]), pbf, "geofabrik",
                       props.get("parent"))
            )
    return regions


def _check_index(index: Any) -> None:
    if not isinstance(index, dict) or not isinstance(index.get("features"), list):
        raise NetworkError("the Geofabrik index is not a GeoJSON FeatureCollection")


class _Links(HTMLParser):
    """The href targets of an Apache-style directory listing."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href and _plain_name(href.removesuffix("/")):
            self.links.append(href)


def _listing(http: Http, url: str) -> list[str]:
    parser = _Links()
    parser.feed(http.get_page(url))
    return parser.links


def osmfr_regions(http: Http) -> list[Region]:
    """French regions (``europe/france/``) and their departments on openstreetmap.fr."""
    root = http.settings.osmfr_url.rstrip("/") + "/" + OSMFR_ROOT
    regions = []

    def scan(url: str, parent: str | None) -> list[str]:
        subdirs = []
        for link in _listing(http, url):
            if link.endswith("/"):
                subdirs.append(link)
            elif link.endswith(PBF_SUFFIX):
                name = link[: -len(PBF_SUFFIX)]
                regions.append(
                    Region(name, name.replace("_", " ").title(), urljoin(url, link), "osmfr", parent)
                )
        return subdirs

    for subdir in scan(root, "france"):
        scan(urljoin(root, subdir), subdir.rstrip("/"))
    return regions


def find_region(http: Http, name: str) -> Region:
    """The region that `name` selects: an id, a name, or ``catalogue:id``.

    Geofabrik is searched first, then openstreetmap.fr (which has the departments).
    An unknown name is an error that suggests the closest names. When a catalogue
    cannot be reached, the others still answer: a name close to one they hold is a
    usage error that says which catalogue was not searched; otherwise the network
    error stands, since the region may be in the catalogue that failed.
    """
    catalogue, _, wanted = name.rpartition(":")
    loaders = {"geofabrik": geofabrik_regions, "osmfr": osmfr_regions}
    if catalogue and catalogue not in loaders:
        raise UsageError(f"unknown catalogue {catalogue!r}: use geofabrik: or osmfr:")
    key = normalise(wanted.replace("_", " "))
    seen: list[Region] = []
    failed: dict[str, NetworkError] = {}
    for label, load in loaders.items():
        if catalogue and label != catalogue:
            continue
        try:
            regions = load(http)
        except NetworkError as e:
            failed[label] = e
            continue
        seen.extend(regions)
        found = [r for r in regions if key in (normalise(r.id.replace("_", " ")), normalise(r.name))]
        if len(found) == 1:
            return found[0]
        if found:
            listing = ", ".join(f"{r.key} ({r.parent or 'top'})" for r in found)
            raise UsageError(f"{name!r} names several regions: {listing}")
    names = {normalise(r.id.replace("_", " ")): r for r in seen}
    close = difflib.get_close_matches(key, list(names), n=5, cutoff=0.6)
    if failed and not close:
        raise next(iter(failed.values()))
    hint = "; did you mean " + ", ".join(names[c].key for c in close) + "?" if close else ""
    searched = [CATALOGUES[c] for c in loaders if c not in failed and c in (catalogue or c)]
    unsearched = "".join(f" ({CATALOGUES[c]} was not searched: {e})" for c, e in failed.items())
    raise UsageError(f"no region {name!r} in {' or '.join(searched)}{hint}{unsearched}")


def file_name(region: Region) -> str:
    """The file name of the region's extract, refused unless a plain ``.osm.pbf`` name."""
    name = unquote(urlparse(region.url).path.rpartition("/")[2])
    if not _plain_name(name) or not name.endswith(".osm.pbf"):
        raise unexpected(
            f"the {CATALOGUES[region.catalogue]} catalogue",
            f"names a file that osmcams will not write, {name!r}, for {region.key}",
        )
    return name


def _plain_name(name: str) -> bool:
    """Whether `name` is a file name that stays in its directory (no path, no dot-name)."""
    return bool(name) and not name.startswith((".", "?", "-")) and not any(
        c in "/\\:" or ord(c) < 0x20 for c in name
    )


def _sidecar(target: Path) -> Path:
    return target.with_name(target.name + ".json")


def _validator(headers: dict[str, str]) -> dict[str, str]:
    return {k: headers[k] for k in ("ETag", "Last-Modified") if headers.get(k)}


def plan(http: Http, region: Region, directory: Path) -> Plan:
    """Look at the extract (HEAD) and at what is on disk, before downloading anything."""
    target = directory / file_name(region)
    headers = http.head(region.url)
    validator = _validator(headers)
    size = content_length(headers)
    up_to_date = False
    # Unchanged on the server, and whole here (not cut short by a full disk or a copy).
    if target.is_file() and validator and _sidecar(target).is_file() and (
            size is None or target.stat().st_size == size):
        try:
            stored = parse_nested(json.loads, _sidecar(target).read_text(encoding="utf-8"))
        except ValueError:
            stored = {}
        if not isinstance(stored, dict):
            stored = {}
        up_to_date = stored.get("url") == public_url(region.url) and stored.get("validator") == validator
    return Plan(region, target, size, validator, up_to_date)


def fetch(http: Http, plan: Plan, progress: Progress | None = None) -> Path:
    """Download, verify and install the extract of `plan`, and the polygon it was cut
    with beside it; the target path when done."""
    if plan.up_to_date:
        if not poly_beside(plan.target).is_file():
            fetch_poly(http, plan)
        return plan.target
    if plan.target.exists() and not plan.target.is_file():  # a FIFO, a device: never replaced
        raise UsageError(f"{plan.target} is not a regular file; osmcams will not replace it")
    directory = plan.target.parent
    part = plan.target.with_name(plan.target.name + ".part")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(plan.target, f"downloading {plan.target.name}"):
            return _fetch(http, plan, part, progress)
    except OsmcamsError:
        raise
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            part.unlink(missing_ok=True)  # a part that fills the disk is no use for a resume
            part.with_name(part.name + ".json").unlink(missing_ok=True)
            raise DataError(
                f"the disk holding {directory} is full: {part.name} was deleted"
            ) from e
        raise UsageError(f"cannot write in {directory}: {e.strerror}") from e


def _fetch(http: Http, plan: Plan, part: Path, progress: Progress | None) -> Path:
    # A part resumes only from the version it was started with: its validator goes beside
    # it, and If-Range sends that one (today's would append the new file's tail to the old
    # bytes, a day after Geofabrik published a new extract). A part without one, or of
    # another version than the one published now, starts again, with today's validator.
    started = part.with_name(part.name + ".json")
    have = part.stat().st_size if part.exists() else 0
    current = plan.validator.get("ETag") or plan.validator.get("Last-Modified")
    try:
        if_range = json.loads(started.read_text(encoding="utf-8"))["validator"] if have else None
    except (OSError, ValueError, KeyError, TypeError):
        if_range = None
    if have and (not isinstance(if_range, str) or if_range != current):
        part.unlink()
        have = 0
    if not have:
        if_range = current
        started.write_text(json.dumps({"validator": if_range}), encoding="utf-8")
    if plan.size is not None:
        directory = plan.target.parent
        free = shutil.disk_usage(directory).free
        if free < plan.size - have + SPARE_BYTES:
            raise DataError(
                f"not enough disk space in {directory}: {_mb(plan.size - have)} needed "
                f"plus {_mb(SPARE_BYTES)} kept spare, {_mb(free)} free"
            )
    # The sum of the version the HEAD saw, read before its bytes: one published meanwhile
    # replaces the file, while the download goes on from the one the server opened.
    expected = _published_md5(http, plan.region.url)
    http.download(plan.region.url, part, if_range, progress, plan.size)
    actual = file_md5(part)
    if actual != expected:
        part.unlink(missing_ok=True)
        started.unlink(missing_ok=True)
        raise DataError(
            f"{part.name}: MD5 {actual} does not match the published {expected}; "
            "the download was deleted"
        )
    os.replace(part, plan.target)
    started.unlink(missing_ok=True)
    _write_sidecar(plan, expected)
    fetch_poly(http, plan)
    return plan.target


def poly_url(url: str) -> str:
    """Where a provider serves the `.poly` of the extract at `url`: NAME.poly beside
    NAME-latest.osm.pbf (Geofabrik, openstreetmap.fr) or NAME.osm.pbf."""
    for suffix in (PBF_SUFFIX, ".osm.pbf"):
        if url.endswith(suffix):
            return url[: -len(suffix)] + ".poly"
    return url + ".poly"


def fetch_poly(http: Http, plan: Plan) -> None:
    """Keep the provider's `.poly` of the extract beside it (`extent.poly_beside`), checked
    to be one; a warning, and no file, when it cannot be had."""
    from osmcams.files import atomic_open

    url = poly_url(plan.region.url)
    target = poly_beside(plan.target)
    try:
        text = http.get_text(url)
        parse_poly(text, public_url(url))
        with atomic_open(target, overwrite=True) as out:
            out.write(text)
    except (NetworkError, DataError, OutputError) as e:
        target.unlink(missing_ok=True)  # an old polygon does not describe the new extract
        http.warnings.append(
            f"no extent for {plan.target.name} ({e}): coverage will be estimated from its data"
        )


def _published_md5(http: Http, url: str) -> str:
    text = http.get_text(url + ".md5")
    match = re.match(r"\s*([0-9a-fA-F]{32})\b", text)
    if not match:
        raise NetworkError(f"{public_url(url)}.md5 holds no MD5 sum")
    return match.group(1).lower()


def file_md5(path: Path) -> str:
    """The MD5 hex digest of a file, read in blocks."""
    digest = hashlib.md5()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_sidecar(plan: Plan, md5: str) -> None:
    sidecar = _sidecar(plan.target)
    temp = sidecar.with_name(sidecar.name + ".tmp")
    record = {"url": public_url(plan.region.url), "validator": plan.validator, "md5": md5}
    try:
        temp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        os.replace(temp, sidecar)
    finally:
        temp.unlink(missing_ok=True)


def _mb(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


def describe(plan: Plan) -> str:
    """One line saying what will be downloaded, for the user to read before it starts."""
    size = _mb(plan.size) if plan.size is not None else "unknown size"
    state = "up to date, not downloaded again" if plan.up_to_date else size
    return (
        f"{plan.region.name} ({plan.region.key}): {public_url(plan.region.url)} [{state}] "
        f"-> {plan.target}"
    )


def extract_for(
    http: Http, name: str, directory: Path, progress: Progress | None = None
) -> Path:
    """The local extract of region `name`, downloaded or refreshed when needed."""
    region = find_region(http, name)
    if http.settings.offline:
        target = directory / file_name(region)
        if not target.is_file():
            raise NetworkError(f"offline: {target} has not been downloaded yet")
        return target
    return fetch(http, plan(http, region, directory), progress)
