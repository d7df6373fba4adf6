"""Overpass API: queries from ``queries/``, the slot wait, runtime errors, answers → records.

Every value put into a query is an escaped Overpass QL string literal (or an integer),
so no name can change the structure of a query. Before a query that is not already
cached, ``/api/status`` is read and the client waits for a free slot. A 200 answer
whose ``remark`` reports a runtime error (timeout, out of memory) is a failure, never
a partial count, and is not cached.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

from osmcams.communes.model import department_of
from osmcams.errors import AmbiguousCommune, CommuneNotFound, DataError, NetworkError, UsageError
from osmcams.models import MAX_NESTING, Camera, TooDeep, direction_warning, make_camera
from osmcams.sources.http import (
    MAX_WAIT,
    Http,
    Parse,
    asked_seconds,
    check_wait,
    host,
    is_point,
    json_parser,
    unexpected,
)
from osmcams.sources.osm.pbf import Boundary, Extract

QUERIES = Path(__file__).parent / "queries"
AREA_OFFSET = 3_600_000_000  # Overpass area id of a relation: this plus the relation id
RELATION_REF = re.compile(r"(?:r|relation[/:]?)\s*(\d+)", re.IGNORECASE)
_ESCAPES = {"\\": "\\\\", '"': '\\"', "'": "\\'", "\n": "\\n", "\t": "\\t"}
TIMESTAMP_SOURCE = "Overpass osm3s.timestamp_osm_base"
OVERPASS_DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
ELEMENT_TYPES = ("node", "way", "relation", "area")


@dataclass(frozen=True)
class Target:
    """How one commune is selected in OSM: by INSEE code, relation id, or name and level."""

    kind: str  # "insee", "relation" or "name"
    value: str | int
    admin_level: int = 8

    def __str__(self) -> str:
        if self.kind == "relation":
            return f"relation {self.value}"
        label = "ref:INSEE" if self.kind == "insee" else "name"
        return f"admin_level={self.admin_level} boundary with {label}={self.value}"


def target(text: str, admin_level: int = 8) -> Target:
    """Read a commune given on the command line: "44109", "r7444" / "relation/7444", or a name."""
    text = text.strip()
    if not text:
        raise UsageError("an empty commune name")
    if department_of(text.upper()):
        return Target("insee", text.upper(), admin_level)
    relation = RELATION_REF.fullmatch(text)
    if relation:
        return Target("relation", int(relation.group(1)), admin_level)
    return Target("name", text, admin_level)


def quote(value: str) -> str:
    """An Overpass QL string literal holding `value`, escaped so that it cannot end early."""
    bad = [c for c in value if (ord(c) < 0x20 or ord(c) == 0x7F) and c not in _ESCAPES]
    if bad:
        raise UsageError(f"control character {bad[0]!r} in {value!r}")
    return '"' + "".join(_ESCAPES.get(c, c) for c in value) + '"'


def render(query: str, /, **values: str | int) -> str:
    """The query in ``queries/<query>.overpassql`` with its values: strings quoted, ints as is."""
    template = Template((QUERIES / f"{query}.overpassql").read_text(encoding="utf-8"))
    literals = {k: quote(v) if isinstance(v, str) else str(int(v)) for k, v in values.items()}
    return template.substitute(literals)


def status_url(interpreter: str) -> str | None:
    """The ``/api/status`` page beside an ``/api/interpreter`` URL, if it has that shape."""
    base, _, tail = interpreter.rstrip("/").rpartition("/")
    return f"{base}/status" if tail == "interpreter" else None


def slot_wait(status: str) -> float | None:
    """Seconds to wait for a slot according to a status page; None when one is free now."""
    if re.search(r"^Rate limit: 0\s*$", status, re.MULTILINE):
        return None
    free = re.search(r"^([0-9]+) slots? available now", status, re.MULTILINE)
    if free and free.group(1).strip("0"):  # int() refuses 4,300 digits
        return None
    waits = [0.0 if sign else asked_seconds(digits)
             for sign, digits in re.findall(r"Slot available after: \S+, in (-?)([0-9]+) seconds?", status)]
    if not waits and not free:
        return None  # not a status page we understand: do not block on it
    return min(waits) if waits else 0.0


def wait_for_slot(http: Http) -> None:
    """Wait until the Overpass server has a free slot for us, checking a bounded number of times."""
    settings = http.settings
    url = status_url(settings.overpass_url)
    if url is None:
        return
    pad = min(1.0, settings.min_retry_wait)
    end = time.monotonic() + settings.deadline  # the waits for a slot, all within the deadline
    for _ in range(settings.max_tries):
        try:
            wait = slot_wait(http.get_text(url))
        except NetworkError:
            return  # no status page (a private instance): nothing to wait for
        if wait is None:
            return
        check_wait(wait + pad, end, f"{host(url)} has no free slot: its status page asks")
        pause = min(wait + pad, MAX_WAIT)
        http.notify(f"waiting {pause:.0f} s for a free slot on {host(url)}")
        time.sleep(pause)
        http.notify(None)
    raise NetworkError(
        f"{host(url)} had no free slot after {settings.max_tries} checks of its status; try later"
    )


def check_answer(answer: Any) -> None:
    """Reject what is not a complete, well-formed Overpass answer (raises NetworkError)."""
    if not isinstance(answer, dict) or not isinstance(answer.get("elements"), list):
        raise unexpected("Overpass", "sent no 'elements' list")
    osm3s = answer.get("osm3s", {})
    _check_head(answer.get("remark"), osm3s.get("timestamp_osm_base") if isinstance(
        osm3s, dict) else osm3s)
    for number, element in enumerate(answer["elements"], 1):
        _check_element(number, element)


def _check_head(remark: Any, stamp: Any) -> None:
    """A remark (a runtime error, a timeout) fails the query: the answer may be cut short.
    A stamp must be a date as Overpass writes it."""
    if remark:
        raise NetworkError(f"Overpass stopped the query, nothing was counted: {remark}")
    if stamp is not None and not (isinstance(stamp, str) and OVERPASS_DATE.fullmatch(stamp)):
        raise unexpected("Overpass", f"sent a data date that is not a date: {stamp!r}")


def _check_element(number: int, element: Any) -> None:
    problem = _element_problem(element)
    if problem:
        raise unexpected("Overpass", f"element {number}: {problem}")


@dataclass(frozen=True)
class CameraAnswer:
    """What a camera query answered: how many areas matched, the data date, the cameras
    (each with whether its direction was unreadable)."""

    areas: int
    stamp: str | None
    cameras: list[tuple[Camera, bool]]


# ijson makes the events of a whole chunk at once, and each event's prefix grows with the
# depth: small chunks let the depth check stop a deeply nested answer within a few ms.
PARSE_CHUNK = 8192


def read_cameras(body: bytes, encoding: str | None = None) -> CameraAnswer:
    """Stream-parse a camera answer: each element is checked and made a camera as it
    comes, so that a large answer is never held whole as Python objects."""
    import ijson

    head: dict[str, Any] = {}
    depth = 0

    def events() -> Iterator[tuple[str, str, Any]]:
        nonlocal depth
        for prefix, event, value in ijson.parse(body, use_float=True, buf_size=PARSE_CHUNK):
            depth += event in ("start_map", "start_array")
            depth -= event in ("end_map", "end_array")
            if depth > MAX_NESTING:  # each event's prefix grows with the depth
                raise NetworkError(f"Overpass sent an answer {TooDeep()}: refused")
            if prefix in ("remark", "osm3s.timestamp_osm_base") or (
                prefix == "elements" and event == "start_array"
            ):
                head[prefix] = value
            yield prefix, event, value

    areas, cameras = 0, []
    try:
        for number, element in enumerate(ijson.items(events(), "elements.item"), 1):
            _check_element(number, element)
            if element["type"] == "area":
                areas += 1
                continue
            _check_camera(number, element)
            made = element_camera(element)
            if made is not None:
                cameras.append(made)
    except (ijson.JSONError, UnicodeDecodeError) as e:
        raise NetworkError("Overpass sent an answer that is not valid JSON (cut short?)") from e
    if "elements" not in head:
        raise unexpected("Overpass", "sent no 'elements' list")
    _check_head(head.get("remark"), head.get("osm3s.timestamp_osm_base"))
    return CameraAnswer(areas, head.get("osm3s.timestamp_osm_base"), cameras)


def _element_problem(element: Any) -> str | None:
    """What is wrong with one element of an answer, or None."""
    if not isinstance(element, dict):
        return f"is {type(element).__name__}, not an object"
    kind, osm_id = element.get("type"), element.get("id")
    if kind not in ELEMENT_TYPES or not isinstance(osm_id, int) or isinstance(osm_id, bool) or osm_id <= 0:
        return "has no valid type and id"  # OSM's ids (and Overpass's areas') start at 1
    tags = element.get("tags", {})
    if not isinstance(tags, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
    ):
        return f"{kind}/{osm_id} has tags that are not text"
    if not isinstance(element.get("timestamp", ""), str):
        return f"{kind}/{osm_id} has a timestamp that is not text"
    if kind == "node" and not is_point(element):
        return f"node/{osm_id} has no valid 'lat' and 'lon'"
    if "center" in element and not is_point(element["center"]):
        return f"{kind}/{osm_id} has no valid centre"
    members = element.get("members", [])
    if not isinstance(members, list) or not all(
        isinstance(m, dict) and isinstance(m.get("geometry", []), list)
        and all(is_point(p) for p in m.get("geometry", []))
        for m in members
    ):
        return f"{kind}/{osm_id} has members that are not well formed"
    return None


def run(http: Http, query: str, parse: Parse | None = None, /, **values: str | int) -> Any:
    """Run the query file `query` with `values`, after waiting for a slot unless cached.

    The answer is read by `parse`, else decoded as JSON and checked."""
    settings = http.settings
    data = {"data": render(query, timeout=settings.overpass_timeout, **values)}
    if not settings.offline and not http.is_cached("POST", settings.overpass_url, data=data):
        wait_for_slot(http)
    return http.post(
        settings.overpass_url, data, parse or json_parser(settings.overpass_url, check_answer)
    )


def _selection(t: Target) -> dict[str, str | int]:
    if t.kind == "relation":
        return {"relation_id": int(t.value)}
    return {t.kind: str(t.value), "admin_level": str(t.admin_level)}


def fetch_boundaries(http: Http, targets: Iterable[Target]) -> list[Boundary]:
    """The boundary relation of each target, assembled into a (multi)polygon.

    Raises CommuneNotFound when OSM has no such boundary, AmbiguousCommune when a name
    selects several, and DataError when the outline does not close.
    """
    boundaries = []
    for t in targets:
        answer = run(http, f"boundary_by_{t.kind}", **_selection(t))
        relations = [e for e in answer["elements"] if e.get("type") == "relation"]
        if not relations:
            raise CommuneNotFound(f"OpenStreetMap has no {t}")
        if len(relations) > 1:
            listing = ", ".join(_describe(r) for r in relations)
            raise AmbiguousCommune(
                f"{len(relations)} relations match the {t}: {listing}; give one as r<id>"
            )
        boundaries.append(boundary(relations[0]))
    return boundaries


def _describe(relation: dict[str, Any]) -> str:
    tags = relation.get("tags", {})
    code = f", ref:INSEE {tags['ref:INSEE']}" if "ref:INSEE" in tags else ""
    return f"{tags.get('name', '?')} (r{relation['id']}{code})"


def boundary(relation: dict[str, Any]) -> Boundary:
    """A Boundary from a relation printed with ``out geom``; an open ring is a DataError."""
    from osmcams.geo.rings import build_rings, rings_to_multipolygon

    tags = relation.get("tags", {})
    label = f"relation {relation['id']} ({tags.get('name', 'unnamed')})"
    ways = [
        m for m in relation.get("members", [])
        if m.get("type") == "way" and m.get("role", "") in ("outer", "inner", "")
    ]
    missing = sum(not m.get("geometry") for m in ways)
    if not ways or missing:
        raise DataError(f"{label}: {missing} of {len(ways)} member ways have no geometry")
    lines = [[(p["lon"], p["lat"]) for p in m["geometry"]] for m in ways]
    return Boundary(relation["id"], tags, rings_to_multipolygon(build_rings(lines, label)))


def fetch_cameras(
    http: Http,
    targets: Sequence[Target],
    bbox: tuple[float, float, float, float] | None = None,
) -> Extract:
    """The man_made=surveillance objects inside each target's area, as one Extract.

    Targets select areas by INSEE code or relation id (resolve names with
    fetch_boundaries first). `bbox` is the extent the targets cover, for the join's
    coverage check.
    """
    cameras: dict[str, Camera] = {}
    stamps: list[str] = []
    warnings: list[str] = []
    bad_direction = 0
    for t in targets:
        if t.kind == "relation":
            answer = run(http, "cameras_by_relation", read_cameras,
                         area_id=AREA_OFFSET + int(t.value))
        elif t.kind == "insee":
            answer = run(http, "cameras_by_insee", read_cameras, **_selection(t))
        else:
            raise UsageError(f"select cameras by INSEE code or relation, not by name ({t.value})")
        if not answer.areas:
            raise DataError(f"OpenStreetMap has no area for the {t}: cannot select its cameras")
        if answer.areas > 1:
            warnings.append(f"{answer.areas} OSM areas match the {t}; their cameras are merged")
        if answer.stamp:
            stamps.append(answer.stamp)
        for camera, bad in answer.cameras:
            bad_direction += bad and camera.key not in cameras
            cameras[camera.key] = camera
    warnings += direction_warning(bad_direction)
    source = f"Overpass API ({host(http.settings.overpass_url)})"
    return Extract(
        list(cameras.values()),
        source,
        min(stamps) if stamps else None,
        TIMESTAMP_SOURCE if stamps else "unknown",
        bbox,
        warnings,
    )


def _check_camera(number: int, element: dict[str, Any]) -> None:
    """An element of a camera answer must be a camera with a place (checked elements)."""
    name = f"{element['type']}/{element['id']}"
    if element.get("tags", {}).get("man_made") != "surveillance":
        raise unexpected("Overpass", f"element {number}: {name} is not tagged man_made=surveillance")
    if element["type"] != "node" and "center" not in element:
        raise unexpected("Overpass", f"element {number}: {name} has no centre (out center)")


def element_camera(element: dict[str, Any]) -> tuple[Camera, bool] | None:
    """A camera from an Overpass element (nodes at their position, others at their centre)."""
    kind = element.get("type")
    if kind == "node" and "lat" in element:
        lon, lat = element["lon"], element["lat"]
    elif kind in ("way", "relation") and "center" in element:
        lon, lat = element["center"]["lon"], element["center"]["lat"]
    else:
        return None
    return make_camera(
        kind, int(element["id"]), float(lon), float(lat),
        element.get("tags", {}), element.get("timestamp"),
    )
