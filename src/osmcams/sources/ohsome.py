"""The ohsome API (HeiGIT): OpenStreetMap's history as counts per area and date, no file needed.

The project's own HTTP layer sends the requests, not the ``ohsome`` client of PyPI:
that client brings its own requests session, User-Agent and retries, and has no
answer-size limit, no deadline for a whole answer and no cache keyed by the request,
so it would be a second HTTP stack beside sources.http, without its guarantees.

Two questions per batch of communes make a camera what the file-based timeline counts:

- nodes: ``/elements/count/groupBy/boundary`` over the communes' polygons (``bpolys``);
- ways and relations: ``/elements/bbox`` over the batch's bounding box, unclipped,
  whose boxes' centres the caller places in the communes, as the file path places a
  way at the centre of its nodes' box (ohsome's own count would count a way in every
  commune its geometry touches).

A batch that ohsome refuses (400, 404, 500) or that times out (413 with its timeout
message, 504) is split in two and asked again; a commune refused on its own is
reported, never counted as 0. 429, 502 and 503 are tried again by the HTTP layer,
after its back-off.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from osmcams.errors import NetworkError
from osmcams.models import Progress, parse_nested
from osmcams.sources.http import Http, host, unexpected

SERVICE = "ohsome"
COUNT = "/elements/count/groupBy/boundary"
BOXES = "/elements/bbox"
NODE_FILTER = "man_made=surveillance and type:node"
SHAPE_FILTER = "man_made=surveillance and (type:way or type:relation)"
RETRY = (429, 502, 503)  # tried again by the HTTP layer, after its back-off
# A refused polygon (400; 404: outside ohsome's data; 500: self-intersecting), a timeout
# (413 with ohsome's timeout message, 504), or an answer beyond max_answer_mb (many dates):
# the batch is split in two and asked again.
SPLIT = (400, 404, 413, 500, 504)
# Batches: well under ohsome's time limit (a few minutes), whose cost grows with the area
# and the data it holds. The area is estimated on the sphere, which is enough to batch.
BATCH_COMMUNES = 60
BATCH_KM2 = 2_000.0
BATCH_BYTES = 1_000_000
MARGIN = 0.001  # degrees added around a batch's box for its ways and relations
# Polygons are simplified within 1e-5 degrees (about 1 m) and rounded to 1e-7 degrees
# (1 cm); on the test data this changes no count (tests/test_ohsome.py).
TOLERANCE = 1e-5
DIGITS = 7
SERVICE_SHARE = 0.8  # of osmcams's read timeout, for ohsome's processing of a request
KM2_PER_SQUARE_DEGREE = (math.pi * 6371.0088 / 180) ** 2
OSM_ID = re.compile(r"(way|relation)/\d+")
FUTURE_SLACK = 86_400  # seconds of clock difference allowed to a data date
# The largest count believed: beyond, a JSON number is no exact whole number (2**53).
MAX_COUNT = 2**53


@dataclass(frozen=True)
class Extent:
    """The span of ohsome's data, and its longest processing time (seconds), from /metadata."""

    start: str
    end: str
    timeout: float | None = None


def metadata(http: Http) -> Extent:
    """The temporal extent of ohsome's data; refused when /metadata does not give it."""

    def check(answer: Any) -> None:
        extent = answer.get("extractRegion", {}) if isinstance(answer, dict) else None
        extent = extent.get("temporalExtent") if isinstance(extent, dict) else None
        if not isinstance(extent, dict) or not all(
            isinstance(extent.get(k), str) and _instant(extent[k]) is not None
            for k in ("fromTimestamp", "toTimestamp")
        ):
            raise unexpected(SERVICE, "/metadata gives no temporal extent: its data date is "
                                      "unknown, so nothing is counted")
        start, end = (_instant(extent[k]) or 0 for k in ("fromTimestamp", "toTimestamp"))
        if end > time.time() + FUTURE_SLACK or start > end:
            raise unexpected(SERVICE, f"/metadata says its data spans {extent['fromTimestamp']} to "
                                      f"{extent['toTimestamp']}, which ends in the future or "
                                      "starts after it ends: nothing is counted")
        timeout = answer.get("timeout")
        if timeout is not None and not (
                isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 0):
            raise unexpected(SERVICE, f"/metadata gives a timeout that is not a number of "
                                      f"seconds: {timeout!r}")

    answer = http.get_json(_url(http, "/metadata"), check=check)
    extent = answer["extractRegion"]["temporalExtent"]
    return Extent(extent["fromTimestamp"], extent["toTimestamp"], answer.get("timeout"))


@dataclass(frozen=True)
class Query:
    """The dates asked at, and the processing time ohsome may take for one request: within
    osmcams's own read timeout and deadline, so that ohsome stops first, with its timeout
    answer, and the batch is split; within ohsome's own limit, which it would refuse."""

    dates: tuple[str, ...]
    timeout: int

    @classmethod
    def of(cls, dates: Sequence[str], settings: Any, extent: Extent) -> Query:
        seconds = SERVICE_SHARE * min(settings.read_timeout, settings.deadline)
        if extent.timeout is not None:
            seconds = min(seconds, extent.timeout)
        return cls(tuple(dates), max(1, int(seconds)))


def prepared(geometry: Any) -> Any:
    """A polygon ohsome accepts: made valid, its polygons only, simplified within TOLERANCE,
    rounded to DIGITS decimals (and made valid again if rounding broke it)."""
    import shapely

    def polygonal(shape: Any) -> Any:
        shape = shapely.make_valid(shape)
        parts = [p for p in shapely.get_parts(shape) if p.geom_type in ("Polygon", "MultiPolygon")]
        return shapely.union_all(parts) if parts else shapely.Polygon()

    shape = polygonal(geometry).simplify(TOLERANCE, preserve_topology=True)
    shape = shapely.transform(shape, lambda xy: xy.round(DIGITS))
    return shape if shape.is_valid else polygonal(shape)


def _feature(code: str, shape: Any) -> str:
    """A GeoJSON Feature with the id ohsome names its counts by (shortest decimals)."""
    import shapely

    label = json.dumps(code)
    return (f'{{"type":"Feature","id":{label},"properties":{{"id":{label}}},'
            f'"geometry":{shapely.to_geojson(shape)}}}')


def _km2(shape: Any) -> float:
    """The area of `shape`, roughly (square degrees scaled at its latitude)."""
    latitude = shape.centroid.y if not shape.is_empty else 0.0
    return float(shape.area) * KM2_PER_SQUARE_DEGREE * math.cos(math.radians(latitude))


def batches(shapes: dict[str, Any]) -> list[list[str]]:
    """The codes of `shapes` in batches of neighbours, each within the BATCH_* limits."""
    import geopandas

    codes = list(shapes)
    order = geopandas.GeoSeries([shapes[c] for c in codes]).hilbert_distance().to_numpy()
    found: list[list[str]] = []
    km2 = size = 0.0
    for k in order.argsort(kind="stable"):
        code = codes[k]
        area, length = _km2(shapes[code]), len(_feature(code, shapes[code]))
        if not found or len(found[-1]) >= BATCH_COMMUNES or (
                found[-1] and (km2 + area > BATCH_KM2 or size + length > BATCH_BYTES)):
            found.append([])
            km2 = size = 0.0
        found[-1].append(code)
        km2, size = km2 + area, size + length
    return found


def time_list(dates: Sequence[str]) -> str:
    """ohsome's `time` parameter: the dates, comma-separated, in UTC without the Z."""
    return ",".join(d.removesuffix("Z") for d in dates)


@dataclass
class Answers:
    """What ohsome answered for every batch: node counts per commune and date, the centre of
    each way or relation box per date (with the codes of the batch that asked), and the
    communes refused, with the reason."""

    nodes: dict[str, list[int]] = field(default_factory=dict)
    shapes: list[tuple[list[str], list[tuple[str, int, float, float]]]] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)


def ask(
    http: Http,
    shapes: dict[str, Any],
    query: Query,
    progress: Progress | None = None,
) -> Answers:
    """The counts of every commune of `shapes` (prepared polygons) at the dates of `query`."""
    answers = Answers()
    todo = batches({c: s for c, s in shapes.items() if not s.is_empty})
    answers.refused.update({c: "its polygon is empty once made valid"
                            for c, s in shapes.items() if s.is_empty})
    total, done = sum(map(len, todo)), 0
    if progress:
        progress("ohsome", 0, total)
    for batch in todo:
        for part in _answered(http, batch, shapes, query, answers):
            done += len(part)
            if progress:
                progress("ohsome", done, total)
    return answers


def _answered(
    http: Http, batch: list[str], shapes: dict[str, Any], query: Query, answers: Answers,
) -> Iterator[list[str]]:
    """Ask for `batch`, split in halves while ohsome refuses it or times out; yields each part
    answered or refused. A batch split in a run before is not asked again whole: its parts'
    answers are in the cache."""
    half = len(batch) // 2
    parts = (batch[:half], batch[half:])
    try:
        if len(batch) > 1 and not _cached(http, batch, shapes, query) and all(
                _known(http, part, shapes, query) for part in parts):
            for part in parts:
                yield from _answered(http, part, shapes, query, answers)
            return
        nodes = _post(http, COUNT, _count_form(batch, shapes, query),
                      lambda a: _check_counts(a, batch, query.dates))
        index = {_instant(d): i for i, d in enumerate(query.dates)}
        boxes = _post(http, BOXES, _box_form(batch, shapes, query),
                      lambda a: _check_features(a, index))
    except NetworkError as e:
        if e.status not in SPLIT and not e.too_large:
            raise
        if len(batch) == 1:
            answers.refused[batch[0]] = _reason(e)
            yield batch
            return
        for part in parts:
            yield from _answered(http, part, shapes, query, answers)
        return
    answers.nodes.update(
        (str(g["groupByObject"]), [int(r["value"]) for r in _by_date(g["result"], query.dates)])
        for g in nodes["groupByResult"])
    answers.shapes.append((batch, _centres(boxes, index)))
    yield batch


def _cached(http: Http, batch: list[str], shapes: dict[str, Any], query: Query) -> bool:
    """Whether both answers for `batch` are in the cache."""
    return all(http.is_cached("POST", _url(http, path), data=form) for path, form in (
        (COUNT, _count_form(batch, shapes, query)), (BOXES, _box_form(batch, shapes, query))))


def _known(http: Http, batch: list[str], shapes: dict[str, Any], query: Query) -> bool:
    """Whether the answers for `batch`, or for the parts it was split into, are cached."""
    half = len(batch) // 2
    return _cached(http, batch, shapes, query) or (len(batch) > 1 and all(
        _known(http, part, shapes, query) for part in (batch[:half], batch[half:])))


def _reason(error: NetworkError) -> str:
    """ohsome's own message for a refusal, or the status line."""
    try:
        message = parse_nested(json.loads, error.detail).get("message")
    except (ValueError, AttributeError):
        message = None
    timed_out = error.status == 504 or (error.status == 413 and "timeout" in str(message))
    text = f"{error} ({message})" if isinstance(message, str) and message else str(error)
    why = ("it timed out even alone: " if timed_out
           else "its answer is too large even alone: " if error.too_large else "refused: ")
    return why + text[:300]


def _url(http: Http, path: str) -> str:
    return http.settings.ohsome_url.rstrip("/") + path


def _post(http: Http, path: str, data: dict[str, str], check: Callable[[Any], None]) -> Any:
    from osmcams.sources.http import json_parser

    url = _url(http, path)
    return http.post(url, data, json_parser(url, check), retry=RETRY)


def _count_form(batch: list[str], shapes: dict[str, Any], query: Query) -> dict[str, str]:
    """The nodes of the communes of `batch`, counted in each polygon at every date."""
    bpolys = ('{"type":"FeatureCollection","features":['
              + ",".join(_feature(c, shapes[c]) for c in batch) + "]}")
    return {"bpolys": bpolys, "time": time_list(query.dates), "filter": NODE_FILTER,
            "format": "json", "timeout": str(query.timeout)}


def _box_form(batch: list[str], shapes: dict[str, Any], query: Query) -> dict[str, str]:
    """The boxes of the ways and relations that meet the batch's box, unclipped, at every date."""
    import shapely

    west, south, east, north = shapely.total_bounds([shapes[c] for c in batch])
    box = ",".join(f"{v:.7f}" for v in (west - MARGIN, south - MARGIN, east + MARGIN, north + MARGIN))
    return {"bboxes": box, "time": time_list(query.dates), "filter": SHAPE_FILTER,
            "clipGeometry": "false", "timeout": str(query.timeout)}


def _centres(answer: Any, index: dict[int | None, int]) -> list[tuple[str, int, float, float]]:
    """(osm id, date index, lon, lat) of the centre of each box of an /elements/bbox answer."""
    centres = []
    for feature in answer["features"]:
        props = feature["properties"]
        (west, south), (east, north) = _corners(feature["geometry"])
        centres.append((props["@osmId"], index[_instant(props["@snapshotTimestamp"])],
                        (west + east) / 2, (south + north) / 2))
    return centres


def _instant(text: Any) -> int | None:
    """Seconds since the epoch of an ISO timestamp (UTC unless told), or None."""
    return _seconds(text) if isinstance(text, str) else None


@lru_cache(maxsize=100_000)  # an answer repeats its dates for every commune
def _seconds(text: str) -> int | None:
    from datetime import datetime, timezone

    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError, TypeError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp())


def _by_date(result: list[dict[str, Any]], dates: Sequence[str]) -> list[dict[str, Any]]:
    at = {_instant(r["timestamp"]): r for r in result}
    return [at[_instant(d)] for d in dates]


def _check_counts(answer: Any, batch: list[str], dates: Sequence[str]) -> None:
    """Exactly one series per commune asked, a value per date asked, each a whole number."""
    groups = answer.get("groupByResult") if isinstance(answer, dict) else None
    if not isinstance(groups, list):
        raise unexpected(SERVICE, "sent no 'groupByResult' list")
    asked, seen = set(batch), set()
    wanted = sorted(_instant(d) or 0 for d in dates)
    for group in groups:
        code = group.get("groupByObject") if isinstance(group, dict) else None
        if code not in asked or code in seen:
            raise unexpected(SERVICE, f"sent counts for {code!r}, which was not asked for "
                                      "(or twice)")
        seen.add(code)
        result = group.get("result")
        if not isinstance(result, list) or not all(isinstance(r, dict) for r in result) or sorted(
                _instant(r.get("timestamp")) or 0 for r in result) != wanted:
            raise unexpected(SERVICE, f"sent counts for {code} at other dates than asked")
        for r in result:
            value = r.get("value")
            if not _is_count(value):
                shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "…"
                raise unexpected(SERVICE, f"sent a count for {code} at {r['timestamp']} that "
                                          f"is not a whole number from 0 to {MAX_COUNT:,}: {shown}")
    if seen != asked:
        missing = ", ".join(sorted(asked - seen))
        raise unexpected(SERVICE, f"sent no counts for {missing}")


def _is_count(value: Any) -> bool:
    """Whether `value` is a whole number from 0 to MAX_COUNT (NaN and infinities are not)."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and 0 <= value <= MAX_COUNT and value == int(value))


def _check_features(answer: Any, index: dict[int | None, int]) -> None:
    """A FeatureCollection of ways and relations, each at a date asked, with a geometry."""
    features = answer.get("features") if isinstance(answer, dict) else None
    if not isinstance(features, list):
        raise unexpected(SERVICE, "sent no 'features' list for the ways and relations")
    for feature in features:
        props = feature.get("properties") if isinstance(feature, dict) else None
        if not isinstance(props, dict) or not OSM_ID.fullmatch(str(props.get("@osmId"))):
            raise unexpected(SERVICE, "sent a feature that is not a way or relation")
        if _instant(props.get("@snapshotTimestamp")) not in index:
            raise unexpected(SERVICE, f"sent {props['@osmId']} at a date that was not asked")
        if _corners(feature.get("geometry")) is None:
            raise unexpected(SERVICE, f"sent {props['@osmId']} without a valid geometry")


def _corners(geometry: Any) -> Any:
    """((west, south), (east, north)) of a GeoJSON geometry, or None when it is not valid.
    A GeometryCollection (what ohsome gives for a relation that is no multipolygon: its
    members' geometries) spans all its parts."""
    points: list[tuple[float, float]] = []

    def walk(value: Any) -> bool:
        if isinstance(value, list) and len(value) >= 2 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            if not (abs(value[0]) <= 180 and abs(value[1]) <= 90):
                return False
            points.append((float(value[0]), float(value[1])))
            return True
        return isinstance(value, list) and bool(value) and all(walk(v) for v in value)

    def parts(shape: Any) -> bool:
        if not isinstance(shape, dict):
            return False
        if shape.get("type") == "GeometryCollection":
            members = shape.get("geometries")
            return isinstance(members, list) and bool(members) and all(parts(m) for m in members)
        return walk(shape.get("coordinates"))

    if not parts(geometry):
        return None
    lons, lats = [p[0] for p in points], [p[1] for p in points]
    return (min(lons), min(lats)), (max(lons), max(lats))


def source_name(http: Http) -> str:
    """How the results name the service."""
    return f"ohsome API ({host(http.settings.ohsome_url)})"
