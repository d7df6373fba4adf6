"""Fields of view: the ground each camera sees, as polygons computed in metres.

A camera with a direction sees a cone (apex at the camera, `range` metres long):
`angle` degrees wide about a bearing, or from the first bearing of a range
("90-270") to the second, clockwise; one cone per value of a list ("90;270").
A dome or panning camera turns, so it sees a disc. With `height`, the range is
where the centre of the view meets the ground, from `camera:tilt` (the wiki's
key: -90 straight down to 90 straight up) or else `camera:angle` (the proposal:
degrees below the horizontal, the opposite sign); a camera looking straight down
sees a disc around its foot, height × tan(angle / 2) wide. Points are placed on
the WGS84 ellipsoid with pyproj.Geod, never by adding degrees.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from osmcams.models import Camera, direction_tag, parse_directions

TURNING = frozenset({"dome", "panning"})
# surveillance:type values that are cameras (guards and the rest have no view to draw).
CAMERA_TYPES = frozenset({"camera", "alpr"})
STEP_DEG = 2.0  # one arc point every 2°: the polygon holds > 99.9 % of the true area
_METRES = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:m)?\s*$")
_DEGREES = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*°?\s*$")


@dataclass(frozen=True)
class FovSettings:
    """Width of a cone in degrees, and its reach in metres when tags do not tell."""

    angle: float = 60.0
    range: float = 30.0

    def __post_init__(self) -> None:
        if not 0 < self.angle <= 360 or not self.range > 0:
            raise ValueError("the angle must be in ]0, 360] and the range above 0")


@dataclass(frozen=True)
class View:
    """One camera's field of view: `kind` is "cone" or "disc"."""

    camera: Camera
    kind: str  # "cone", "cones" (several directions) or "disc"
    range_m: float
    polygon: Any  # shapely Polygon or MultiPolygon, lon/lat, exterior rings counter-clockwise

    def properties(self, insee: str | None = None, commune: str | None = None) -> dict[str, object]:
        """The camera's flat properties, with its commune when given, and how its view was
        drawn."""
        return {
            **self.camera.flat_properties(insee, commune),
            "fov": self.kind,
            "fov_range_m": round(self.range_m, 1),
        }


def _metres(value: str | None) -> float | None:
    match = _METRES.match(value or "")
    return float(match.group(1)) if match else None


def _degrees(value: str | None) -> float | None:
    match = _DEGREES.match(value or "")
    return float(match.group(1)) if match else None


def downward(tags: dict[str, str]) -> float | None:
    """Degrees below the horizontal the camera looks: -`camera:tilt` (-90 down to 90 up,
    as the wiki documents it), else `camera:angle` (the proposal's degrees below)."""
    tilt = _degrees(tags.get("camera:tilt"))
    if tilt is not None and -90 <= tilt <= 90:
        return -tilt
    angle = _degrees(tags.get("camera:angle"))
    return angle if angle is not None and -90 <= angle <= 90 else None


def view_range(tags: dict[str, str], default: float) -> float:
    """Metres to where the view meets the ground (`height` / tan(downward angle)), else `default`
    (straight down has no such place: see `_below`)."""
    height, down = _metres(tags.get("height")), downward(tags)
    if not height or down is None or not 0 < down < 90:
        return default
    return height / math.tan(math.radians(down))


def _below(tags: dict[str, str], settings: FovSettings) -> float | None:
    """The radius of the ground a camera looking straight down (with a `height`) sees around
    its foot: height × tan(angle / 2); None for the others."""
    height, down = _metres(tags.get("height")), downward(tags)
    if not height or down != 90:
        return None
    return height * math.tan(math.radians(settings.angle / 2)) if settings.angle < 180 else settings.range


def is_camera(camera: Camera) -> bool:
    """Whether the object is a camera (not a guard or another kind of surveillance)."""
    return (camera.surveillance_type or "camera").lower() in CAMERA_TYPES


def _ring(geod: Any, lon: float, lat: float, start: float, width: float, reach: float) -> list:
    """Points of an arc from azimuth `start` sweeping `width` degrees anticlockwise."""
    steps = max(2, math.ceil(width / STEP_DEG))
    azimuths = [start - width * i / steps for i in range(steps + 1)]
    lons, lats, _ = geod.fwd([lon] * len(azimuths), [lat] * len(azimuths), azimuths,
                             [reach] * len(azimuths))
    return list(zip(lons, lats))


def view_sweeps(camera: Camera, settings: FovSettings) -> tuple[str, float, list[tuple[float, float]]] | None:
    """How the camera's view is drawn: "disc", "cone" or "cones", its reach in metres and
    its sweeps (start azimuth, width in degrees, drawn anticlockwise from start + width;
    none for a disc); None when it has none to draw (no direction, not a camera)."""
    if not is_camera(camera):
        return None
    below = _below(camera.tags, settings)
    reach = view_range(camera.tags, settings.range) if below is None else below
    if below is not None or (camera.camera_type or "").lower() in TURNING or settings.angle >= 360:
        return "disc", reach, []
    directions = parse_directions(direction_tag(camera.tags))
    if directions is None:
        if camera.direction is None:
            return None
        directions = [(camera.direction, 0.0)]
    sweeps = [(start - settings.angle / 2, settings.angle) if not width else (start, width)
              for start, width in directions]
    if any(width >= 360 for _, width in sweeps):
        return "disc", reach, []
    return ("cone" if len(sweeps) == 1 else "cones"), reach, sweeps


def field_of_view(camera: Camera, settings: FovSettings, geod: Any = None) -> View | None:
    """The camera's view, or None when it has none to draw (no direction, not a camera)."""
    import pyproj
    import shapely

    shape = view_sweeps(camera, settings)
    if shape is None:
        return None
    kind, reach, sweeps = shape
    geod = geod or pyproj.Geod(ellps="WGS84")
    if kind == "disc":
        return View(camera, "disc", reach, _disc(geod, camera.lon, camera.lat, reach))
    apex = (camera.lon, camera.lat)
    cones = [shapely.Polygon([apex, *_ring(geod, *apex, start + width, width, reach), apex])
             for start, width in sweeps]
    if len(cones) == 1:
        return View(camera, "cone", reach, cones[0])
    return View(camera, "cones", reach, shapely.orient_polygons(shapely.union_all(cones)))


def _disc(geod: Any, lon: float, lat: float, reach: float) -> Any:
    import shapely

    return shapely.Polygon(_ring(geod, lon, lat, 360.0, 360.0, reach)[:-1])


def fields_of_view(cameras: list[Camera], settings: FovSettings) -> tuple[list[View], list[str]]:
    """The views of `cameras`, and a warning counting the fixed cameras without a direction."""
    import pyproj

    geod = pyproj.Geod(ellps="WGS84")
    views, blind = [], 0
    for camera in cameras:
        view = field_of_view(camera, settings, geod)
        if view is not None:
            views.append(view)
        elif is_camera(camera):
            blind += 1
    warnings = [
        f"{blind:,} of {len(cameras):,} cameras are fixed and have no direction: no field of view drawn"
    ] if blind else []
    return views, warnings


def view_feature(view: View, insee: str | None = None, commune: str | None = None) -> dict[str, Any]:
    """An RFC 7946 polygon (or multipolygon) feature carrying the camera's properties (with
    its commune `insee` named `commune`, when given)."""
    def rings(polygon: Any) -> list[list[list[float]]]:
        return [[[round(x, 7), round(y, 7)] for x, y in polygon.exterior.coords]]

    parts = getattr(view.polygon, "geoms", None)
    geometry = ({"type": "MultiPolygon", "coordinates": [rings(p) for p in parts]} if parts is not None
                else {"type": "Polygon", "coordinates": rings(view.polygon)})
    return {
        "type": "Feature",
        "id": f"{view.camera.key}/fov",
        "geometry": geometry,
        "properties": view.properties(insee, commune),
    }
