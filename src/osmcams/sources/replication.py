"""OSM replication: where an extract stands, what the server has, and its diffs.

The state and diff files are fetched through sources/http.py (its User-Agent, retries
and back-off; never its cache), in the layout that openstreetmap.fr, Geofabrik and
planet.openstreetmap.org share: ``state.txt`` for the newest state, and
``AAA/BBB/CCC.osc.gz`` with ``AAA/BBB/CCC.state.txt`` for each sequence. pyosmium reads
the extract's header (``osmosis_replication_*``) and merges the diffs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from osmcams.errors import DataError, NetworkError
from osmcams.files import check_inflation
from osmcams.settings import public_url
from osmcams.sources.http import Http, host
from osmcams.sources.osm.pbf import CAMERA_TAG


class DiffsGone(NetworkError):
    """The server does not have a diff that is needed (purged, or never made)."""


@dataclass(frozen=True)
class ReplicationState:
    """A point in a replication stream: its sequence, the date of its data, its server."""

    sequence: int
    timestamp: str  # ISO 8601 UTC, such as 2025-02-07T01:02:45Z
    url: str | None = None

    @classmethod
    def from_header(cls, path: str | os.PathLike[str]) -> ReplicationState | None:
        """The state an extract's header declares (``osmosis_replication_*``), or None."""
        from osmium.replication.utils import get_replication_header

        try:
            url, sequence, stamp = get_replication_header(str(path))
        except RuntimeError as e:
            raise DataError(f"{path}: not a readable OSM file: {e}") from e
        if sequence is None or stamp is None:
            return None
        return cls(sequence, _iso(stamp), url)

    @classmethod
    def from_text(cls, text: str, url: str | None = None) -> ReplicationState:
        """The state in a ``state.txt`` file (Java properties: ``key=value``, escaped colons)."""
        values = {}
        for line in text.splitlines():
            if "=" in line and not line.lstrip().startswith("#"):
                key, value = line.split("=", 1)
                values[key.strip()] = value.strip().replace("\\", "")
        try:
            sequence = int(values["sequenceNumber"])
            stamp = datetime.fromisoformat(values["timestamp"].replace("Z", "+00:00"))
            if sequence < 0:  # replication sequences count from 0
                raise ValueError(sequence)
        except (KeyError, ValueError) as e:
            raise NetworkError(f"{host(url or '')}: not a replication state file") from e
        return cls(sequence, _iso(stamp), url)


def _iso(stamp: datetime) -> str:
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def sequence_path(sequence: int) -> str:
    """``AAA/BBB/CCC`` for a sequence number, as replication servers lay files out."""
    return f"{sequence // 1_000_000:03d}/{sequence // 1000 % 1000:03d}/{sequence % 1000:03d}"


class Server:
    """A replication server at `url` (the directory holding ``state.txt``)."""

    def __init__(self, http: Http, url: str) -> None:
        if not re.match(r"^https?://", url):
            raise DataError(f"replication URL must be http or https: {public_url(url)!r}")
        self.http = http
        self.url = url.rstrip("/") + "/"

    def latest(self) -> ReplicationState:
        """The newest state the server has."""
        return ReplicationState.from_text(self.http.get_text(self.url + "state.txt"), self.url)

    def state(self, sequence: int) -> ReplicationState:
        """The state after `sequence` was applied."""
        url = f"{self.url}{sequence_path(sequence)}.state.txt"
        return ReplicationState.from_text(self._get(url, sequence, self.http.get_text), self.url)

    def fetch_diff(self, sequence: int, directory: Path) -> Path:
        """Download the diff of `sequence` into `directory` (never from a cache), refused
        beyond max_diff_mb."""
        target = directory / f"{sequence}.osc.gz"
        target.unlink(missing_ok=True)
        url = f"{self.url}{sequence_path(sequence)}.osc.gz"
        self._get(url, sequence, lambda u: self.http.download(u, target, bound="max_diff_mb"))
        return target

    def _get(self, url: str, sequence: int, get: Any) -> Any:
        try:
            return get(url)
        except NetworkError as e:
            if e.status in (404, 410):
                raise DiffsGone(
                    f"{host(self.url)} no longer has sequence {sequence} ({public_url(url)})"
                ) from e
            raise


@dataclass
class Batch:
    """What a run of diffs changed, newest version of each object only.

    `nodes` and `ways` hold every node location (None: deleted) and way node list
    (None: deleted) in the diffs; `cameras` the objects tagged man_made=surveillance,
    by key (``node/1``), with their tags, timestamp, location or members; `others` the
    keys of every other node, way or relation in the diffs, deleted or not a camera.
    """

    nodes: dict[int, tuple[float, float] | None] = field(default_factory=dict)
    ways: dict[int, list[int] | None] = field(default_factory=dict)
    cameras: dict[str, dict[str, Any]] = field(default_factory=dict)
    others: set[str] = field(default_factory=set)


def read_diffs(paths: Iterable[Path]) -> Batch:
    """Merge diffs (in sequence order) and keep what refresh needs of them."""
    import osmium

    from osmcams.models import iso_timestamp

    merged = osmium.MergeInputReader()
    for path in paths:
        check_inflation(path, "a corrupt replication diff", NetworkError)
        try:
            merged.add_file(str(path))
        except (RuntimeError, ValueError, osmium.InvalidLocationError) as e:
            # ValueError: a value longer than OSM allows; InvalidLocationError: a coordinate that
            # is no number or has more than three digits before its point (longitude 500)
            raise NetworkError(f"{path.name}: a corrupt replication diff: {e}") from e
    batch = Batch()
    key, value = CAMERA_TAG

    def record(obj: Any, kind: str, data: dict[str, Any]) -> None:
        name = f"{kind}/{obj.id}"
        if obj.id <= 0:  # an editor's new object, never saved: OSM gives none such an id
            raise NetworkError(f"a corrupt replication diff: {name}, where OSM's ids start at 1")
        if obj.deleted or obj.tags.get(key) != value:
            batch.others.add(name)
            return
        data.update(tags=dict(obj.tags), timestamp=iso_timestamp(obj.timestamp))
        batch.cameras[name] = data

    def node(n: Any) -> None:
        if not n.deleted and not n.location.valid():
            where = n.location.lon_without_check(), n.location.lat_without_check()
            raise NetworkError(f"a corrupt replication diff: node/{n.id} lies at longitude "
                               f"{where[0]:g}, latitude {where[1]:g}")
        location = None if n.deleted else (n.location.lon, n.location.lat)
        batch.nodes[n.id] = location
        if location is None:
            batch.others.add(f"node/{n.id}")
        else:
            record(n, "node", {"location": location})

    def way(w: Any) -> None:
        refs = None if w.deleted else [n.ref for n in w.nodes]
        batch.ways[w.id] = refs
        record(w, "way", {"refs": refs})

    def relation(r: Any) -> None:
        members = [] if r.deleted else [(m.type, m.ref) for m in r.members]
        record(r, "relation", {
            "nodes": [ref for kind, ref in members if kind == "n"],
            "ways": [ref for kind, ref in members if kind == "w"],
        })

    handler = osmium.make_simple_handler(node=node, way=way, relation=relation)
    try:
        merged.apply(handler, simplify=True)
    except RuntimeError as e:
        raise NetworkError(f"a corrupt replication diff: {e}") from e
    return batch
