"""Fields of view: cones and discs in metres, checked with pyproj.Geod and osmium-tool."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pyogrio
import pyproj
import pytest
import shapely
from click.testing import CliRunner

from osmcams.cli import cli
from osmcams.errors import ExitCode
from osmcams.models import make_camera
from osmcams.outputs.fov import FovSettings, field_of_view, fields_of_view, view_range

GEOD = pyproj.Geod(ellps="WGS84")


def camera(lon: float = 7.42, lat: float = 43.73, **tags: str):
    tags = {"man_made": "surveillance", "surveillance:type": "camera", **tags}
    return make_camera("node", 1, lon, lat, {k.replace("__", ":"): v for k, v in tags.items()})[0]


def geodesic_area(polygon) -> float:
    lons, lats = polygon.exterior.coords.xy
    area, _ = GEOD.polygon_area_perimeter(lons, lats)
    return area


@pytest.mark.parametrize("lat", [0.0, 43.73, 60.17, 78.2])
@pytest.mark.parametrize("direction", ["0", "NE", "200", "359.5"])
def test_a_cone_covers_a_sixth_of_the_disc(lat: float, direction: str) -> None:
    view = field_of_view(camera(lat=lat, direction=direction), FovSettings())
    assert view is not None and view.kind == "cone"
    area = geodesic_area(view.polygon)
    assert area == pytest.approx(math.pi * 30**2 * 60 / 360, rel=0.01)
    assert area > 0  # pyproj gives a positive area to counter-clockwise rings (RFC 7946)
    apex = view.polygon.exterior.coords[0]
    assert apex == (7.42, lat)
    # The middle of the arc lies 30 m from the apex, in the camera's direction.
    arc = view.polygon.exterior.coords[1:-1]
    middle = arc[len(arc) // 2]
    azimuth, _, distance = GEOD.inv(apex[0], apex[1], middle[0], middle[1])
    assert distance == pytest.approx(30, abs=0.01)
    expected = view.camera.direction
    assert (azimuth - expected + 180) % 360 - 180 == pytest.approx(0, abs=0.01)


def test_width_and_range_options() -> None:
    view = field_of_view(camera(direction="90"), FovSettings(angle=90, range=50))
    assert view is not None
    assert geodesic_area(view.polygon) == pytest.approx(math.pi * 50**2 / 4, rel=0.01)


@pytest.mark.parametrize("kind", ["dome", "panning"])
def test_turning_cameras_see_a_disc(kind: str) -> None:
    view = field_of_view(camera(camera__type=kind, direction="90"), FovSettings(range=40))
    assert view is not None and view.kind == "disc"
    assert geodesic_area(view.polygon) == pytest.approx(math.pi * 40**2, rel=0.01)
    assert view.polygon.contains(shapely.Point(7.42, 43.73))


def test_tilt_and_height_set_the_range() -> None:
    """camera:angle is the tilt below the horizon: 8 m up at 30° meets the ground 13.86 m out."""
    tags = {"height": "8", "camera:angle": "30"}
    assert view_range(tags, 30) == pytest.approx(8 / math.tan(math.radians(30)))
    view = field_of_view(camera(direction="0", height="8 m", camera__angle="30"), FovSettings())
    assert view is not None
    far = max(GEOD.inv(7.42, 43.73, x, y)[2] for x, y in view.polygon.exterior.coords)
    assert far == pytest.approx(8 / math.tan(math.radians(30)), abs=0.01)
    # Without a height, or with a tilt that never meets the ground, the default stands.
    assert view_range({"camera:angle": "30"}, 30) == 30
    assert view_range({"height": "8", "camera:angle": "0"}, 30) == 30
    assert view_range({"height": "8", "camera:angle": "-10"}, 30) == 30
    assert view_range({"height": "tall", "camera:angle": "30"}, 30) == 30


def test_a_camera_looking_straight_down_sees_the_ground_around_its_foot() -> None:
    """camera:angle=90 with height 8 m: a disc of 8·tan(30°) = 4.62 m around the camera, not
    a cone of a made-up length; a steep tilt keeps its short range, with no floor."""
    view = field_of_view(camera(direction="0", height="8", camera__angle="90"), FovSettings())
    assert view is not None and view.kind == "disc"
    radius = 8 * math.tan(math.radians(30))
    assert view.range_m == pytest.approx(radius)
    assert geodesic_area(view.polygon) == pytest.approx(math.pi * radius**2, rel=0.01)
    assert view.polygon.contains(shapely.Point(7.42, 43.73))
    assert view_range({"height": "8", "camera:angle": "89"}, 30) == pytest.approx(
        8 / math.tan(math.radians(89)))  # 0.14 m: short, as the tags say
    assert view_range({"height": "8", "camera:angle": "90"}, 30) == 30  # no place: see the disc
    wide = field_of_view(camera(height="8", camera__angle="90"), FovSettings(angle=200, range=12))
    assert wide is not None and wide.range_m == 12  # a lens of 180° or more: the default reach


def test_fixed_cameras_without_direction_are_counted() -> None:
    cameras = [
        camera(direction="45-135"),  # a range: its middle, 90°
        camera(),  # fixed by default, no direction
        camera(camera__type="fixed", direction="up"),  # unreadable
        camera(surveillance__type="guard"),  # not a camera: nothing to draw, nothing to say
    ]
    views, warnings = fields_of_view(cameras, FovSettings())
    assert [v.camera.direction for v in views] == [90.0]
    assert warnings == ["2 of 4 cameras are fixed and have no direction: no field of view drawn"]


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        FovSettings(angle=0)
    with pytest.raises(ValueError):
        FovSettings(range=-1)


def test_export_fov_on_a_real_extract(monaco_2025: Path, osm_cameras, tmp_path: Path) -> None:
    """Monaco 2025: one view per camera that osmium shows with a direction or a turning head."""
    runner = CliRunner()
    out = tmp_path / "monaco.geojson"
    args = ["export", "--commune", "Monaco", "--pbf", str(monaco_2025), "-q", "--fov"]
    result = runner.invoke(cli, [*args, "-o", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    features = json.loads(out.read_text())["features"]
    points = {f["id"]: f for f in features if f["geometry"]["type"] == "Point"}
    views = [f for f in features if f["geometry"]["type"] == "Polygon"]
    truth = {f"node/{o.osm_id}": o.tags for o in osm_cameras(monaco_2025) if f"node/{o.osm_id}" in points}
    seeing = {key for key, tags in truth.items()
              if tags.get("camera:type") in ("dome", "panning") or "direction" in tags}
    assert {f["id"].removesuffix("/fov") for f in views} == seeing
    blind = len(truth) - len(seeing)
    assert blind == 0 or f"{blind} of {len(truth)} cameras are fixed" in result.stderr
    for view in views:
        props = view["properties"]
        assert not any(isinstance(v, (dict, list)) for v in props.values())
        assert props["@id"] == view["id"].removesuffix("/fov")
        assert props["fov"] == ("disc" if truth[props["@id"]].get("camera:type") in ("dome", "panning")
                                else "cone")
        assert shapely.is_ccw(shapely.LinearRing(view["geometry"]["coordinates"][0]))
    gpkg = tmp_path / "monaco.gpkg"
    assert runner.invoke(cli, [*args, "-o", str(gpkg)]).exit_code == 0
    assert [name for name, _ in pyogrio.list_layers(gpkg)] == ["cameras", "fields_of_view"]
    assert len(pyogrio.read_dataframe(gpkg, layer="fields_of_view")) == len(seeing)
    csv = runner.invoke(cli, [*args, "-o", str(tmp_path / "m.csv")])
    assert csv.exit_code == ExitCode.USAGE
    assert "--fov goes with GeoJSON, GeoPackage or uMap, not csv" in csv.output


@pytest.mark.parametrize("suffix", ["geojson", "gpkg", "umap"])
def test_each_view_carries_the_commune_of_its_camera(
        suffix: str, monaco_2025: Path, communes_06: Path, osm_cameras, osmium_polygons, ign_shapes,
        tmp_path: Path) -> None:
    """Monaco 2025, Monaco in its own relation (13 views) and the Alpes-Maritimes in IGN's
    outlines (Cap-d'Ail's dome): each view has the flat `insee` and `commune` of its camera,
    as the docs promise ("the camera's flat properties"), the code that of the outline osmium
    (Monaco) or the IGN file (shapely) holds the camera in; they were missing."""
    nodes = {f"node/{o.osm_id}": shapely.Point(o.lon, o.lat)
             for o in osm_cameras(monaco_2025) if o.kind == "n"}
    sources = {
        "monaco": (["--commune", "Monaco"], {"r2220322": osmium_polygons(monaco_2025, 8)[2220322]}),
        "06": (["--department", "06", "--boundaries", str(communes_06)], ign_shapes(communes_06)),
    }
    for name, (options, shapes) in sources.items():
        out = tmp_path / f"{name}.{suffix}"
        result = CliRunner().invoke(cli, ["export", *options, "--pbf", str(monaco_2025), "-q", "--fov",
                                          "-o", str(out)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        if suffix == "gpkg":
            points = pyogrio.read_dataframe(out, layer="cameras").to_dict("records")
            views = pyogrio.read_dataframe(out, layer="fields_of_view").to_dict("records")
        else:
            document = json.loads(out.read_text(encoding="utf-8"))
            features = [f for layer in document.get("layers", [document]) for f in layer["features"]
                        if "@id" in f["properties"]]
            points = [f["properties"] for f in features if f["geometry"]["type"] == "Point"]
            views = [f["properties"] for f in features if f["geometry"]["type"] != "Point"]
        communes = {p["@id"]: p["commune"] for p in points}
        assert len(views) == (13 if name == "monaco" else 1)
        for view in views:
            (code,) = [code for code, shape in shapes.items() if shape.intersects(nodes[view["@id"]])]
            assert (view["insee"], view["commune"]) == (code, communes[view["@id"]]), view
            assert view["commune"] == ("Monaco" if name == "monaco" else "Cap-d'Ail")


def test_a_geopackage_types_the_fields_of_view_as_its_cameras(
        monaco_2025: Path, communes_06: Path, osm_cameras, tmp_path: Path) -> None:
    """Cap-d'Ail in Monaco 2025: one view, a dome with no direction. The fields_of_view layer
    declares the cameras' column types (SQLite's own table_info): `@timestamp` a DATETIME
    holding osmium's timestamp, `@direction` REAL though null, as the cameras layer has them."""
    import sqlite3

    gpkg = tmp_path / "cap-d-ail.gpkg"
    result = CliRunner().invoke(cli, ["export", "--commune", "06032", "--pbf", str(monaco_2025),
                                      "--boundaries", str(communes_06), "-q", "--fov", "-o", str(gpkg)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"{gpkg}: 1 camera, a lower bound (coverage 14%), 1 field of view\n" in result.stderr
    with sqlite3.connect(gpkg) as db:
        declared = {layer: {row[1]: row[2] for row in db.execute(f"PRAGMA table_info({layer})")}
                    for layer in ("cameras", "fields_of_view")}
        (key, stamp), = db.execute('SELECT "@id", "@timestamp" FROM fields_of_view').fetchall()
    cameras, views = declared["cameras"], declared["fields_of_view"]
    assert views["@timestamp"] == "DATETIME" and views["@direction"] == "REAL"
    assert views["fov_range_m"] == "REAL"
    assert {k: t for k, t in views.items() if k in cameras and k != "geom"} == {
        k: t for k, t in cameras.items() if k in views and k != "geom"}
    truth = {f"node/{o.osm_id}": o.timestamp for o in osm_cameras(monaco_2025)}
    assert stamp == truth[key]  # 2019-05-18T17:52:06Z
    frame = pyogrio.read_dataframe(gpkg, layer="fields_of_view")
    assert str(frame["@timestamp"].dtype).startswith("datetime64") and frame["@direction"].dtype == float


def test_a_view_tagged_operator_and_Operator_has_one_column_as_its_camera(tmp_path: Path) -> None:
    """GDAL refused a second field equal but for case ("Error adding field 'Operator'"): the
    whole GeoPackage was lost. The view's values are joined as its camera's are."""
    from osmcams.outputs.writers import write_cameras

    seen = camera(camera__direction="90", operator="Ville", Operator="Police")
    views, _ = fields_of_view([seen], FovSettings())
    gpkg = tmp_path / "both.gpkg"
    write_cameras([seen], gpkg, "gpkg", views=views)
    for layer in ("cameras", "fields_of_view"):
        frame = pyogrio.read_dataframe(gpkg, layer=layer)
        assert [c for c in frame.columns if c.lower() == "operator"] == ["operator"]
        assert frame["operator"].tolist() == ["Ville;Police"]


def sector(start: float, width: float, reach: float, lon: float = 7.42, lat: float = 43.73) -> Any:
    """A sector drawn independently: a point every 0.25° from `start` clockwise, by Geod.fwd."""
    steps = max(1, round(width * 4))
    azimuths = [start + width * i / steps for i in range(steps + 1)]
    points = [GEOD.fwd(lon, lat, a, reach)[:2] for a in azimuths]
    return shapely.Polygon([(lon, lat), *points, (lon, lat)])


def area(geometry) -> float:
    return abs(GEOD.geometry_area_perimeter(geometry)[0])


@pytest.mark.parametrize(("value", "sweeps"), [
    ("90", [(60, 60)]), ("N", [(-30, 60)]), ("NNE", [(-7.5, 60)]), ("WSW", [(217.5, 60)]),
    ("-45", [(285, 60)]), ("90-270", [(90, 180)]), ("300-60", [(300, 120)]), ("SW-NW", [(225, 90)]),
    ("10-20", [(10, 10)]), ("90;270", [(60, 60), (240, 60)]), ("0;10", [(-30, 70)]),
    ("N;120-200", [(-30, 60), (120, 80)]), ("0-360", [(0, 360)]),
])
@pytest.mark.parametrize("key", ["camera:direction", "direction", "surveillance:direction"])
def test_every_direction_form_is_drawn_with_the_right_area(key: str, value: str, sweeps: list) -> None:
    view = field_of_view(camera(**{key.replace(":", "__"): value}), FovSettings())
    assert view is not None
    expected = shapely.union_all([sector(start, width, 30) for start, width in sweeps])
    assert view.kind == ("disc" if value == "0-360" else "cone" if len(sweeps) == 1 and ";" not in value
                         else "cones")
    assert area(view.polygon) == pytest.approx(area(expected), rel=0.005)
    assert shapely.symmetric_difference(view.polygon, expected).area < 0.01 * expected.area
    assert view.polygon.is_valid


def test_a_range_runs_clockwise_from_its_first_bearing() -> None:
    view = field_of_view(camera(camera__direction="300-60"), FovSettings())
    assert view is not None
    north = GEOD.fwd(7.42, 43.73, 0, 20)[:2]
    south = GEOD.fwd(7.42, 43.73, 180, 20)[:2]
    assert view.polygon.contains(shapely.Point(north)) and not view.polygon.contains(shapely.Point(south))


def test_several_directions_are_one_multipolygon_feature() -> None:
    from osmcams.outputs.fov import view_feature

    view = field_of_view(camera(camera__direction="90;270"), FovSettings())
    assert view is not None
    feature = view_feature(view)
    assert feature["geometry"]["type"] == "MultiPolygon" and len(feature["geometry"]["coordinates"]) == 2
    for polygon in feature["geometry"]["coordinates"]:
        assert shapely.is_ccw(shapely.LinearRing(polygon[0]))
    assert area(shapely.geometry.shape(feature["geometry"])) == pytest.approx(2 * math.pi * 900 / 6, rel=0.01)


def test_straight_down_by_either_key_is_a_disc_around_the_foot() -> None:
    radius = 8 * math.tan(math.radians(FovSettings().angle / 2))
    for tags in ({"camera__tilt": "-90"}, {"camera__angle": "90"}):
        view = field_of_view(camera(camera__direction="0", height="8", **tags), FovSettings())
        assert view is not None and view.kind == "disc" and view.range_m == pytest.approx(radius)
        assert area(view.polygon) == pytest.approx(math.pi * radius**2, rel=0.005)


@pytest.mark.parametrize(("tags", "reach"), [
    ({"height": "8", "camera:tilt": "-30"}, 8 / math.tan(math.radians(30))),  # the wiki's sign
    ({"height": "8", "camera:angle": "30"}, 8 / math.tan(math.radians(30))),  # the proposal's
    ({"height": "8", "camera:tilt": "-45", "camera:angle": "10"}, 8.0),  # the wiki's key first
    ({"height": "8", "camera:tilt": "10"}, 30.0),  # upwards: never meets the ground
    ({"height": "8", "camera:tilt": "30"}, 30.0),
    ({"height": "8", "camera:tilt": "-120"}, 30.0),  # out of range: not read
    ({"height": "8", "camera:tilt": "-90-20"}, 30.0),  # a range of tilts: no one range
])
def test_camera_tilt_and_angle_with_their_signs(tags: dict[str, str], reach: float) -> None:
    assert view_range(tags, 30) == pytest.approx(reach)
    view = field_of_view(camera(camera__direction="0", **{k.replace(":", "__"): v for k, v in tags.items()}),
                         FovSettings())
    assert view is not None and view.range_m == pytest.approx(reach)
    assert area(view.polygon) == pytest.approx(area(sector(-30, 60, reach)), rel=0.005)
