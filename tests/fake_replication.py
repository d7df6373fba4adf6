"""A replication server in the layout of openstreetmap.fr and Geofabrik, and osmChange
diffs written as XML, for the refresh tests."""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from werkzeug import Request, Response

STAMP = "2025-02-07T{:02d}:{:02d}:00Z"


def sequence_path(sequence: int) -> str:
    """``AAA/BBB/CCC``, written out here rather than taken from the code under test."""
    text = f"{sequence:09d}"
    return f"{text[0:3]}/{text[3:6]}/{text[6:9]}"


def state_text(sequence: int, timestamp: str) -> str:
    """A state.txt as osmosis writes it (Java properties, escaped colons)."""
    return (
        f"#{timestamp}\nsequenceNumber={sequence}\n"
        f"timestamp={timestamp.replace(':', chr(92) + ':')}\n"
    )


class Server:
    """Files under `root`, served at `prefix` on a pytest-httpserver; 404 for the rest."""

    def __init__(self, httpserver: Any, root: Path, prefix: str = "/replication/") -> None:
        self.root = root
        self.prefix = prefix
        self.url = httpserver.url_for(prefix)
        self.requests: list[str] = []
        self.users: list[str | None] = []  # the user name each request came with
        self.chunked = False  # send files in chunks without Content-Length, as a stream
        root.mkdir(parents=True, exist_ok=True)
        httpserver.expect_request(prefix.rstrip("/"), method="GET").respond_with_data("", 404)
        import re

        httpserver.expect_request(re.compile(f"^{prefix}.*")).respond_with_handler(self.handle)

    def handle(self, request: Request) -> Response:
        self.requests.append(request.path)
        self.users.append(request.authorization.username if request.authorization else None)
        path = self.root / request.path[len(self.prefix):]
        if not path.is_file():
            return Response("Not Found", status=404)
        data = path.read_bytes()
        if self.chunked:
            return Response((data[i:i + 65536] for i in range(0, len(data), 65536)),
                            content_type="application/octet-stream")
        return Response(data, content_type="application/octet-stream")

    def publish(self, sequence: int, diff: bytes | str, timestamp: str, latest: bool = True) -> None:
        """Add the diff of `sequence` (osmChange XML, or gzip bytes as they are) and its state."""
        target = self.root / f"{sequence_path(sequence)}.osc.gz"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(diff if isinstance(diff, bytes) else gzip.compress(diff.encode()))
        target.with_name(target.name.replace(".osc.gz", ".state.txt")).write_text(
            state_text(sequence, timestamp)
        )
        if latest:
            self.set_latest(sequence, timestamp)

    def set_latest(self, sequence: int, timestamp: str) -> None:
        (self.root / "state.txt").write_text(state_text(sequence, timestamp))

    def remove(self, sequence: int) -> None:
        (self.root / f"{sequence_path(sequence)}.osc.gz").unlink()


@dataclass
class Obj:
    """One OSM object to write in a diff."""

    kind: str  # node, way or relation
    osm_id: int
    version: int
    tags: dict[str, str] = field(default_factory=dict)
    lon: float | None = None
    lat: float | None = None
    refs: list[int] = field(default_factory=list)
    members: list[tuple[str, int, str]] = field(default_factory=list)

    def xml(self, timestamp: str = "2025-02-07T02:00:00Z") -> str:
        head = (f'<{self.kind} id="{self.osm_id}" version="{self.version}" '
                f'timestamp="{timestamp}" changeset="1" uid="1" user="test"')
        if self.kind == "node":
            head += f' lat="{self.lat:.7f}" lon="{self.lon:.7f}"'
        body = [f'<nd ref="{r}"/>' for r in self.refs]
        kinds = {"n": "node", "w": "way", "r": "relation"}
        body += [f'<member type="{kinds.get(t, t)}" ref="{r}" role={quoteattr(role)}/>'
                 for t, r, role in self.members]
        body += [f"<tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in self.tags.items()]
        return head + ">" + "".join(body) + f"</{self.kind}>"


def osc(create: list[Obj] = (), modify: list[Obj] = (), delete: list[Obj] = ()) -> str:  # type: ignore[assignment]
    """An osmChange document."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>', '<osmChange version="0.6" generator="test">']
    for action, objects in (("create", create), ("modify", modify), ("delete", delete)):
        if objects:
            parts.append(f"<{action}>" + "".join(o.xml() for o in objects) + f"</{action}>")
    return "\n".join([*parts, "</osmChange>"]) + "\n"


def read_objects(path: Path, kind: str, ids: set[int]) -> dict[int, Obj]:
    """Objects of a real extract, to write their next versions."""
    import osmium

    entity = {"node": osmium.osm.NODE, "way": osmium.osm.WAY, "relation": osmium.osm.RELATION}[kind]
    found = {}
    for o in osmium.FileProcessor(str(path), entity).with_filter(osmium.filter.IdFilter(ids)):
        obj = Obj(kind, o.id, o.version, dict(o.tags))
        if kind == "node":
            obj.lon, obj.lat = o.location.lon, o.location.lat
        elif kind == "way":
            obj.refs = [n.ref for n in o.nodes]
        else:
            obj.members = [(m.type, m.ref, m.role) for m in o.members]
        found[o.id] = obj
    return found
