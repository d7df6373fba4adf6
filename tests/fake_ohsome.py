"""A stand-in for the ohsome API on 127.0.0.1, answering from a real OSM history file.

Its answers are ohsome's JSON (ohsome-api's response formats: ``groupByResult`` for
``/elements/count/groupBy/boundary``, a GeoJSON FeatureCollection with ``@osmId`` and
``@snapshotTimestamp`` for ``/elements/bbox``, ``extractRegion.temporalExtent`` for
``/metadata``, and ``{timestamp, status, message, requestUrl}`` for errors). The state
at a date is what ``osmium time-filter FILE DATE`` holds, with shapely for the geometry:
nothing of osmcams is used. It counts the way ohsome does: a node when it lies in the
polygon, a way or relation in /elements/bbox when its geometry meets the box, given
whole as ohsome gives it: a way's line, a relation's GeometryCollection of its members.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from conftest import parse_opl, run_osmium
from werkzeug import Request, Response

ATTRIBUTION = {"url": "https://ohsome.org/copyrights",
               "text": "© OpenStreetMap contributors"}
API_VERSION = "1.10.4"
START = "2007-10-08T00:00:00Z"
MAX_TIMEOUT = 600.0
TIMEOUT_MESSAGE = ("The given query is too large in respect to the given timeout. Please use a "
                   "smaller region and/or coarser time period.")


def error(status: int, message: str, path: str = "/elements/count/groupBy/boundary") -> Response:
    """An ohsome error answer."""
    body = {"timestamp": "2026-12-06T05:00:00.000", "status": status, "message": message,
            "requestUrl": f"https://api.ohsome.org/v1{path}"}
    return Response(json.dumps(body), status=status, content_type="application/json")


@dataclass
class Snapshot:
    """The objects of a history file at a date: node positions, way refs, relation members,
    and which objects are cameras."""

    nodes: dict[int, tuple[float, float]]
    ways: dict[int, list[int]]
    relations: dict[int, list[tuple[str, int]]]
    cameras: list[tuple[str, int]]


def _stamp(text: str) -> str:
    """A time parameter value as ``YYYY-MM-DDTHH:MM:SSZ``."""
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Ohsome:
    """ohsome's /metadata, /elements/count/groupBy/boundary and /elements/bbox over `history`.

    `before` may answer a request instead (a fault); `after` may change an answer's JSON.
    `log` keeps (path, bytes sent) of every request that reached it. `scratch`: a folder
    of its own for the cut (the history may be read-only).
    """

    history: Path
    scratch: Path
    end: str
    start: str = START
    before: Callable[[Request], Response | None] | None = None
    after: Callable[[Request, Any], Any] | None = None
    log: list[tuple[str, int]] = field(default_factory=list)
    _cut: Path | None = None
    _snapshots: dict[str, Snapshot] = field(default_factory=dict)

    def register(self, httpserver: Any, prefix: str = "/ohsome/v1") -> None:
        for path, handler in (("/metadata", self.metadata),
                              ("/elements/count/groupBy/boundary", self.count),
                              ("/elements/bbox", self.bbox)):
            httpserver.expect_request(prefix + path).respond_with_handler(self._guarded(handler))

    def _guarded(self, handler: Callable[[Request], Any]) -> Callable[[Request], Response]:
        def serve(request: Request) -> Response:
            self.log.append((request.path, len(request.get_data())))
            if self.before:
                answer = self.before(request)
                if answer is not None:
                    return answer
            timeout = request.form.get("timeout")
            if timeout is not None and float(timeout) > MAX_TIMEOUT:
                return error(400, f"The given timeout is too long. It has to be shorter than "
                                  f"{MAX_TIMEOUT} seconds", request.path)
            body = handler(request)
            if self.after:
                body = self.after(request, body)
            return Response(json.dumps(body), content_type="application/json;charset=utf-8")
        return serve

    def metadata(self, request: Request) -> Any:
        return {"attribution": ATTRIBUTION, "apiVersion": API_VERSION, "timeout": MAX_TIMEOUT,
                "extractRegion": {"spatialExtent": {"type": "Polygon", "coordinates": [[
                    [-180.0, -90.0], [180.0, -90.0], [180.0, 90.0], [-180.0, 90.0],
                    [-180.0, -90.0]]]},
                    "temporalExtent": {"fromTimestamp": self.start, "toTimestamp": self.end},
                    "replicationSequenceNumber": 123456}}

    def count(self, request: Request) -> Any:
        """Objects whose geometry meets each polygon: a way that crosses a border counts for
        both sides, as ohsome counts (osmcams asks for nodes only)."""
        from shapely.geometry import shape

        form = request.form
        assert form["filter"].startswith("man_made=surveillance and "), form["filter"]
        kinds = {kind[0] for kind in ("node", "way", "relation") if f"type:{kind}" in form["filter"]}
        polygons = [(str(f.get("id", f.get("properties", {}).get("id"))), shape(f["geometry"]))
                    for f in json.loads(form["bpolys"])["features"]]
        dates = [_stamp(t) for t in form["time"].split(",")]
        results: dict[str, list[dict[str, Any]]] = {code: [] for code, _ in polygons}
        for date in dates:
            state = self.snapshot(date)
            shapes = [g for kind, i in state.cameras if kind in kinds
                      for g in [self._geometry(state, kind, i)] if g is not None]
            for code, polygon in polygons:
                value = sum(polygon.intersects(g) for g in shapes)
                results[code].append({"timestamp": date, "value": float(value)})
        return {"attribution": ATTRIBUTION, "apiVersion": API_VERSION,
                "groupByResult": [{"groupByObject": code, "result": result}
                                  for code, result in results.items()]}

    def bbox(self, request: Request) -> Any:
        from shapely.geometry import box, mapping

        form = request.form
        assert form["filter"] == "man_made=surveillance and (type:way or type:relation)"
        assert form.get("clipGeometry") == "false"
        area = box(*map(float, form["bboxes"].split(",")))
        features = []
        for date in (_stamp(t) for t in form["time"].split(",")):
            state = self.snapshot(date)
            for kind, osm_id in state.cameras:
                shape = None if kind == "n" else self._geometry(state, kind, osm_id)
                if shape is None or not shape.intersects(area):
                    continue
                features.append({"type": "Feature", "geometry": mapping(shape),
                                 "properties": {"@osmId": f"{'way' if kind == 'w' else 'relation'}/{osm_id}",
                                                "@snapshotTimestamp": date}})
        return {"attribution": ATTRIBUTION, "apiVersion": API_VERSION,
                "type": "FeatureCollection", "features": features}

    @staticmethod
    def _geometry(state: Snapshot, kind: str, osm_id: int) -> Any:
        """A node's point, a way's line, a relation's member nodes and lines; None if empty."""
        from shapely.geometry import GeometryCollection, LineString, MultiPoint, Point

        def line(way: int) -> Any:
            points = [state.nodes[n] for n in state.ways.get(way, []) if n in state.nodes]
            return LineString(points) if len(points) > 1 else MultiPoint(points)

        if kind == "n":
            return Point(state.nodes[osm_id]) if osm_id in state.nodes else None
        if kind == "w":
            shape = line(osm_id)
        else:
            shape = GeometryCollection(
                [Point(state.nodes[ref]) for k, ref in state.relations.get(osm_id, [])
                 if k == "n" and ref in state.nodes]
                + [line(ref) for k, ref in state.relations.get(osm_id, []) if k == "w"])
        return None if shape.is_empty else shape

    def snapshot(self, date: str) -> Snapshot:
        """What `osmium time-filter` holds at `date`, of the cameras and what they are made of."""
        if date not in self._snapshots:
            objects = parse_opl(run_osmium("time-filter", self.cut(), date, "-f", "opl", "-o", "-"))
            self._snapshots[date] = Snapshot(
                nodes={o.osm_id: (o.lon, o.lat) for o in objects
                       if o.kind == "n" and o.lon is not None and o.lat is not None},
                ways={o.osm_id: [int(r[1:]) for r in o.refs] for o in objects if o.kind == "w"},
                relations={o.osm_id: [(r[0], int(r[1:])) for r in o.refs] for o in objects
                           if o.kind == "r"},
                cameras=[(o.kind, o.osm_id) for o in objects
                         if o.tags.get("man_made") == "surveillance"],
            )
        return self._snapshots[date]

    def cut(self) -> Path:
        """Every version of the objects that were ever cameras and of what they are made of."""
        if self._cut is None:
            folder = self.scratch
            tagged = parse_opl(run_osmium("tags-filter", "-R", self.history, "man_made=surveillance",
                                          "-f", "opl", "-o", "-"))
            ids = {f"{o.kind}{o.osm_id}" for o in tagged}
            ids |= {ref for o in tagged for ref in o.refs}  # n123, w45 (relation members)
            members = [i for i in ids if i.startswith("w")]
            if members:
                listing = folder / "ways.txt"
                listing.write_text("\n".join(members) + "\n", encoding="utf-8")
                ways = parse_opl(run_osmium("getid", "--with-history", self.history, "-i", listing,
                                            "-f", "opl", "-o", "-"))
                ids |= {ref for o in ways for ref in o.refs}
            listing = folder / "ids.txt"
            listing.write_text("\n".join(sorted(ids)) + "\n", encoding="utf-8")
            self._cut = folder / "cut.osh.pbf"
            run_osmium("getid", "--with-history", "--overwrite", self.history, "-i", listing,
                       "-o", self._cut)
        return self._cut

