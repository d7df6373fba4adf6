"""Camera records and the normalisation of their tags."""

from __future__ import annotations

import contextlib
import functools
import gc
import math
import os
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from osmcams.errors import UsageError

COMPASS = {
    name: i * 22.5
    for i, name in enumerate(
        ["N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W", "WNW", "NW", "NNW"]
    )
}
DIRECTION_KEYS = ("camera:direction", "direction", "surveillance:direction")
# The keys of a camera's flat properties and columns that osmcams writes (the `name` and
# `description` tags make its own): a tag named as one, but for case (columns that a
# GeoPackage cannot tell apart), is kept as tag:<name> (@id=… took the place of node/1).
OWN_KEYS = frozenset({"@id", "@direction", "@timestamp", "insee", "commune", "lon", "lat", "geometry",
                      "name", "description"})
_NUMBER = r"-?\d+(?:\.\d+)?"
_RANGE = re.compile(rf"^({_NUMBER}|[NSEW]{{1,3}})\s*°?\s*-\s*({_NUMBER}|[NSEW]{{1,3}})\s*°?$")

# Told of progress: (label, done, total); total is None when unknown. Bytes, or files.
Progress = Callable[[str, int, "int | None"], None]



@contextlib.contextmanager
def gc_paused(keep: bool = False) -> Iterator[None]:
    """No cyclic garbage collection meanwhile: building many objects at once (shapely
    geometries, parsed JSON) would otherwise set off collections of the whole heap.
    With `keep`, what was built lives on (cameras of a country): it is moved out of the
    reach of later collections (`gc.freeze`), which would otherwise walk it again and again."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if keep:
            gc.freeze()
        if paused:  # the thread that paused it resumes it
            gc.enable()


MAX_NESTING = 500  # levels of JSON that a streaming parse reads; real answers nest under 10


class TooDeep(ValueError):
    """JSON or TOML nested deeper than osmcams reads (hundreds of levels)."""

    def __init__(self) -> None:
        super().__init__("nested hundreds of levels deep")


def parse_nested(parse: Callable[[Any], Any], text: Any) -> Any:
    """`parse(text)` (json.loads, tomllib.loads), TooDeep when `text` nests deeper than
    Python's recursion allows: the parsers stop there, at once and in little memory."""
    try:
        return parse(text)
    except RecursionError:
        raise TooDeep() from None


# Control characters a terminal would obey (ESC opens its sequences) and that XML refuses,
# shown as \xNN instead: names, tags and messages hold what anyone wrote.
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0)) if chr(c) not in "\n\t"}
_CONTROL = re.compile("[" + "".join(map(chr, _CONTROLS)) + "]")  # finds one at C speed


def cameras_text(n: int, floor: bool = False) -> str:
    """ "1 camera", "2 cameras", "1,234 cameras"; with `floor` (a total that holds the count
    of a commune only partly inside the data, so a lower bound), "≥0 cameras"."""
    return "≥" * floor + ("1 camera" if n == 1 else f"{n:,} cameras")


def printable(text: str) -> str:
    """`text` with its control characters (but newlines and tabs) shown as \\xNN."""
    return text.translate(_CONTROLS) if _CONTROL.search(text) else text  # translate looks up every character


def one_line(text: str) -> str:
    """`text` shown on one line: a line break as \\n or \\r, other control characters
    as printable shows them."""
    return printable(text.replace("\r", "\\r").replace("\n", "\\n"))


@contextlib.contextmanager
def nan_unsaid() -> Iterator[None]:
    """shapely's RuntimeWarning at a NaN coordinate held back: the outline that holds one is
    refused after, in one line (`geo.areas.repair`, `sources.extent`)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


# Field order of a camera record, as written to CSV and GeoJSON properties.
CAMERA_FIELDS = (
    "osm_type", "osm_id", "lon", "lat", "surveillance", "surveillance_type",
    "camera_type", "camera_mount", "zone", "operator", "direction", "timestamp", "tags",
)


@dataclass(slots=True)
class Camera:
    """One surveillance object; ways and relations sit at their bounding-box centre."""

    osm_type: str
    osm_id: int
    lon: float
    lat: float
    surveillance: str | None = None
    surveillance_type: str | None = None
    camera_type: str | None = None
    camera_mount: str | None = None
    zone: str | None = None
    operator: str | None = None
    direction: float | None = None
    timestamp: str | None = None
    tags: dict[str, str] = field(default_factory=dict)  # shared by cameras read alike: never changed

    @property
    def key(self) -> str:
        """Stable identity across runs, such as ``node/123``."""
        return f"{self.osm_type}/{self.osm_id}"

    def tag_set(self) -> tuple[Any, ...]:
        """What all but the camera's type, id, place and date depend on: a key for the work
        done once per set of tags (a country's cameras repeat a few thousand)."""
        return (self.direction, self.surveillance, self.surveillance_type, self.camera_type,
                self.camera_mount, self.zone, self.operator, *self.tags.items())

    def properties(self) -> dict[str, object]:
        """The record without its position, for GeoJSON properties."""
        data = {name: getattr(self, name) for name in CAMERA_FIELDS if name not in ("lon", "lat")}
        data["tags"] = dict(self.tags)
        return data

    def _looks(self) -> str:
        """Where the camera looks, in words: "looks 90°", or the range or list as tagged."""
        if self.direction is None:
            return "direction unknown"
        raw = direction_tag(self.tags)
        several = parse_directions(raw)
        if several and (len(several) > 1 or several[0][1]):
            return f"looks {raw}"
        return f"looks {self.direction:g}°"

    def flat_properties(self, insee: str | None = None, commune: str | None = None) -> dict[str, object]:
        """Properties uMap and QGIS show as they are: `@id`, `name`, `description`, the
        commune (`insee`, `commune`) when given, then every tag as a top-level key (their
        table popups skip nested objects); a tag named as a key of osmcams's own (OWN_KEYS)
        as `tag:<key>`, which cannot stand in its place."""
        kind = (self.surveillance_type or "surveillance").replace("_", " ")
        words = list(dict.fromkeys(  # "Camera, public", not "Camera, camera, public"
            w for w in (self.camera_type, self.surveillance) if w and w.casefold() != kind.casefold()))
        about = [
            self._looks(),
            *(f"{label} {value}" for label, value in (
                ("operator:", self.operator), ("mounted on", self.camera_mount),
                ("watches", self.zone)) if value),
        ]
        if self.tags.get("description"):
            about.append(self.tags["description"])
        return {
            "@id": self.key,
            "name": self.tags.get("name") or ", ".join([kind.capitalize(), *words]),
            "description": "; ".join(about),
            **({"insee": insee, "commune": commune} if insee is not None else {}),
            "@direction": self.direction,
            "@timestamp": self.timestamp,
            **{f"tag:{k}" if k.lower() in OWN_KEYS else k: v for k, v in self.tags.items()
               if k not in ("name", "description")},
        }


def _angle(token: str) -> float | None:
    token = token.strip().upper().rstrip("°").strip()
    if token in COMPASS:
        return COMPASS[token]
    try:
        value = float(token)
    except ValueError:
        return None
    return value % 360.0 if math.isfinite(value) else None


def parse_directions(value: str | None) -> list[tuple[float, float]] | None:
    """Each direction of `value` as (from, width): degrees clockwise from north where it
    starts, and how far it sweeps clockwise; None when a part cannot be read.

    A bearing ("90", "NE", "-45") has width 0; a range ("90-270", "SW-NW") sweeps from its
    first bearing to its second, clockwise ("0-360": all around); a list ("90;270") gives
    one direction per part.
    """
    if value is None or not value.strip():
        return None
    found = []
    for part in value.split(";"):  # an empty part (";90", "90;") is a slip: unreadable
        part = part.strip()
        match = _RANGE.match(part.upper())
        if match:
            start, end = _angle(match.group(1)), _angle(match.group(2))
            if start is None or end is None:
                return None
            width = (end - start) % 360.0
            if width == 0 and match.group(1) != match.group(2):
                width = 360.0  # 0-360: all around
            found.append((start, width))
            continue
        bearing = _angle(part)
        if bearing is None:
            return None
        found.append((bearing, 0.0))
    return found


def parse_direction(value: str | None) -> float | None:
    """Degrees clockwise from north for `value`, or None when it cannot be read: the first
    of a list ("90;270"), the middle of a range ("45-135": 90, clockwise). See parse_directions."""
    directions = parse_directions(value)
    if not directions:
        return None
    start, width = directions[0]
    return (start + width / 2.0) % 360.0


# A country's cameras repeat a few hundred direction values.
_cached_direction = functools.lru_cache(maxsize=4096)(parse_direction)


def direction_source(tags: dict[str, str]) -> tuple[str, str] | None:
    """The direction key and its raw value, by order of precedence of DIRECTION_KEYS."""
    for key in DIRECTION_KEYS:
        if tags.get(key):
            return key, tags[key]
    return None


def direction_tag(tags: dict[str, str]) -> str | None:
    """The raw direction value, by order of precedence of its keys."""
    found = direction_source(tags)
    return found[1] if found else None


DATE_FORMATS = "2016, 2016-05, 2016-05-01 or 2016-05-01T12:00Z"


def parse_date(text: str) -> datetime:
    """A UTC instant from a year, a month, a day or an ISO 8601 time (UTC unless told)."""
    value = text.strip()
    short = re.fullmatch(r"(\d{4})(?:-(\d{2}))?", value)
    try:
        if short:
            return datetime(int(short[1]), int(short[2] or 1), 1, tzinfo=timezone.utc)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as e:
        raise UsageError(f"cannot read the date {text!r}: write {DATE_FORMATS}") from e
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError as e:  # 0001-01-01T00:00+01:00 is before the first UTC date
        raise UsageError(f"the date {text!r} is out of the range of dates") from e


def listed(values: Any) -> list[Any]:
    """`values` as a list: one text or path given alone is one value, not its characters."""
    return [values] if isinstance(values, (str, os.PathLike)) else list(values)


def iso_timestamp(value: datetime | None) -> str | None:
    """ISO 8601 UTC text, or None for a missing timestamp (the Unix epoch in PBF)."""
    if value is None or value.year < 1971:
        return None
    return value.isoformat().replace("+00:00", "Z")


def direction_warning(unreadable: int) -> list[str]:
    """The warning for cameras whose direction tag could not be read, if any."""
    if not unreadable:
        return []
    verb = "has" if unreadable == 1 else "have"
    return [f"{cameras_text(unreadable)} {verb} a direction that cannot be read; set to null"]


def unreadable_direction(camera: Camera) -> bool:
    """Whether the camera has a direction tag that could not be read."""
    return camera.direction is None and direction_tag(camera.tags) is not None


def make_camera(
    osm_type: str,
    osm_id: int,
    lon: float,
    lat: float,
    tags: dict[str, str],
    timestamp: str | None = None,
) -> tuple[Camera, bool]:
    """A normalised camera, and whether its direction tag was present but unreadable."""
    raw = direction_tag(tags)
    direction = _cached_direction(raw)
    get = tags.get
    camera = Camera(  # positional: this runs once per camera of a country
        osm_type, osm_id, lon, lat, get("surveillance"), get("surveillance:type"),
        get("camera:type"), get("camera:mount"), get("surveillance:zone"), get("operator"),
        direction, timestamp, dict(tags),
    )
    return camera, raw is not None and direction is None


def flat_tags(properties: dict[str, Any]) -> dict[str, str]:
    """The OSM tags of a camera written as `Camera.flat_properties` (an osmcams export) and
    read back: none of the keys osmcams adds (OWN_KEYS), a `tag:<key>` as <key>, a null or
    empty value (a CSV's empty cell) as no tag; `name` only when it is not the name osmcams
    gives a camera without one, `description` only what follows the words osmcams puts
    before it (a name tag that says just what osmcams would is lost: they cannot be told apart)."""
    tags: dict[str, str] = {}
    for key, value in properties.items():
        if value is None or value == "" or key.lower() in OWN_KEYS:
            continue
        if key.startswith("tag:") and key[4:].lower() in OWN_KEYS:
            key = key[4:]
        tags[key] = str(value)
    made = make_camera("node", 0, 0.0, 0.0, tags)[0].flat_properties()
    name, description = properties.get("name"), properties.get("description")
    if name not in (None, "", made["name"]):
        tags["name"] = str(name)
    before = f"{made['description']}; "
    if isinstance(description, str) and description.startswith(before) and len(description) > len(before):
        tags["description"] = description[len(before):]
    return tags
