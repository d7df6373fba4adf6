"""A stand-in for the ohsome API on 127.0.0.1, answering from a real OSM history file.

Its answers are ohsome's JSON (ohsome-api's response formats: ``groupByResult`` for
``/elements/count/groupBy/boundary``, a GeoJSON FeatureCollection with ``@osmId`` and
``@snapshotTimestamp`` for ``/elements/bbox``, ``extractRegion.temporalExtent`` for
``/metadata``, and ``{timestamp, status, message, requestUrl}`` for errors). The state
at a date is what ``osmium time-filter FILE DATE`` holds, with shapely for the geometry:
nothing of osmcams is used. It counts the way ohsome does: a node when it lies in the
polygon, a way or relation in /elements/bbox when its geometry meets the box.
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
    `log` keeps (path, bytes sent) of every request that reached it.
    """

    history: Path
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
            body = handler(request)
            if self.after:
                body = self.after(request, body)
            return Response(json.dumps(body), content_type="application/json;charset=utf-8")
        return serve

    def metadata(self, request: Request) -> Any:
        return {"attribution": ATTRIBUTION, "apiVersion": API_VERSION, "timeout": 600.0,
                "extractRegion": {"spatialExtent": {"type": "Polygon", "coordinates": [[
                    [-180.0, -90.0], [180.0, -90.0], [180.0, 90.0], [-180.0, 90.0],
                    [-180.0, -90.0]]]},
                    "temporalExtent": {"fromTimestamp": self.start, "toTimestamp": self.end},
                    "replicationSequenceNumber": 123456}}

    def count(self, request: Request) -> Any:
        from shapely.geometry import Point, shape

        form = request.form
        assert form["filter"] == "man_made=surveillance and type:node", form["filter"]
        polygons = [(str(f.get("id", f.get("properties", {}).get("id"))), shape(f["geometry"]))
                    for f in json.loads(form["bpolys"])["features"]]
        dates = [_stamp(t) for t in form["time"].split(",")]
        results: dict[str, list[dict[str, Any]]] = {code: [] for code, _ in polygons}
        for date in dates:
            state = self.snapshot(date)
            points = [Point(state.nodes[i]) for kind, i in state.cameras if kind == "n"]
            for code, polygon in polygons:
                value = sum(polygon.intersects(p) for p in points)
                results[code].append({"timestamp": date, "value": float(value)})
        return {"attribution": ATTRIBUTION, "apiVersion": API_VERSION,
                "groupByResult": [{"groupByObject": code, "result": result}
                                  for code, result in results.items()]}

    def bbox(self, request: Request) -> Any:
        from shapely.geometry import MultiPoint, box

        form = request.form
        assert form["filter"] == "man_made=surveillance and (type:way or type:relation)"
        assert form.get("clipGeometry") == "false"
        area = box(*map(float, form["bboxes"].split(",")))
        features = []
        for date in (_stamp(t) for t in form["time"].split(",")):
            state = self.snapshot(date)
            for kind, osm_id in state.cameras:
                if kind == "n":
                    continue
                points = self._points(state, kind, osm_id)
                if not points:
                    continue
                shape = MultiPoint(points)
                if not shape.envelope.intersects(area) or not _meets(points, kind, state, osm_id, area):
                    continue
                west, south, east, north = shape.bounds
                ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
                features.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                                 "properties": {"@osmId": f"{'way' if kind == 'w' else 'relation'}/{osm_id}",
                                                "@snapshotTimestamp": date}})
        return {"attribution": ATTRIBUTION, "apiVersion": API_VERSION,
                "type": "FeatureCollection", "features": features}

    def _points(self, state: Snapshot, kind: str, osm_id: int) -> list[tuple[float, float]]:
        """The positions of the nodes of a way, or of a relation's node and way members."""
        if kind == "w":
            return [state.nodes[n] for n in state.ways.get(osm_id, []) if n in state.nodes]
        points = []
        for member_kind, ref in state.relations.get(osm_id, []):
            if member_kind == "n" and ref in state.nodes:
                points.append(state.nodes[ref])
            elif member_kind == "w":
                points += [state.nodes[n] for n in state.ways.get(ref, []) if n in state.nodes]
        return points

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
            tagged = parse_opl(run_osmium("tags-filter", "-R", self.history, "man_made=surveillance",
                                          "-f", "opl", "-o", "-"))
            ids = {f"{o.kind}{o.osm_id}" for o in tagged}
            ids |= {ref for o in tagged for ref in o.refs}  # n123, w45 (relation members)
            members = [i for i in ids if i.startswith("w")]
            if members:
                listing = self.history.with_name(f"{self.history.stem}-ways.txt")
                listing.write_text("\n".join(members) + "\n", encoding="utf-8")
                ways = parse_opl(run_osmium("getid", "--with-history", self.history, "-i", listing,
                                            "-f", "opl", "-o", "-"))
                ids |= {ref for o in ways for ref in o.refs}
            listing = self.history.with_name(f"{self.history.stem}-ohsome-ids.txt")
            listing.write_text("\n".join(sorted(ids)) + "\n", encoding="utf-8")
            self._cut = self.history.with_name(f"{self.history.stem}-ohsome.osh.pbf")
            run_osmium("getid", "--with-history", "--overwrite", self.history, "-i", listing,
                       "-o", self._cut)
        return self._cut


def _meets(points: list[tuple[float, float]], kind: str, state: Snapshot, osm_id: int,
           area: Any) -> bool:
    """Whether the geometry of a way (its line) or a relation (its members) meets `area`."""
    from shapely.geometry import LineString, MultiPoint

    if kind == "w" and len(points) >= 2:
        return bool(LineString(points).intersects(area))
    return bool(MultiPoint(points).intersects(area))
