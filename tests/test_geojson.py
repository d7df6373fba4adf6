"""Plain GeoJSON read without GDAL: exactly what GDAL reads, or nothing (GDAL reads it)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pyogrio.raw
import pytest
import shapely

from osmcams.communes.boundaries import load_communes
from osmcams.communes.geojson import read_plain_geojson

SQUARE = [[[7.0, 43.7], [7.1, 43.7], [7.1, 43.8], [7.0, 43.8], [7.0, 43.7]]]
HOLE = [[7.02, 43.72], [7.02, 43.74], [7.04, 43.74], [7.04, 43.72], [7.02, 43.72]]


def _gdal(path: Path) -> tuple[dict[str, list], list[bytes | None], str]:
    """Columns, WKB and CRS as GDAL reads the file."""
    meta, _, wkb, fields = pyogrio.raw.read(path, datetime_as_string=True)
    columns = {name: values.tolist() for name, values in zip(meta["fields"].tolist(), fields)}
    return columns, list(wkb), meta["crs"]


def _same_as_gdal(path: Path) -> None:
    columns, geometries, crs = read_plain_geojson(path)  # type: ignore[misc]
    gdal_columns, gdal_wkb, gdal_crs = _gdal(path)
    assert (columns, crs) == (gdal_columns, gdal_crs)
    assert [None if g is None else shapely.to_wkb(g) for g in geometries] == gdal_wkb


def test_every_ign_file_reads_as_gdal_reads_it(ign_dir: Path) -> None:
    """The 101 IGN files: the same fields, and byte for byte the same WKB as GDAL's."""
    files = sorted(ign_dir.glob("*.geojson"))
    assert len(files) == 101
    for path in files:
        _same_as_gdal(path)


def _collection(*features: dict, **members: object) -> str:
    return json.dumps({"type": "FeatureCollection", **members, "features": list(features)})


def _feature(geometry: dict | None, **properties: object) -> dict:
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def test_polygons_multipolygons_holes_and_null_geometries(write_text: Callable[[str, str], Path]) -> None:
    """Mixed kinds, a missing property and a null geometry: as GDAL reads them."""
    multi = {"type": "MultiPolygon", "coordinates": [SQUARE, [[*HOLE]], [SQUARE[0], HOLE]]}
    path = write_text("mixed.geojson", _collection(
        _feature({"type": "Polygon", "coordinates": [SQUARE[0], HOLE]}, code="06001", nom="A"),
        _feature(multi, code="06002"),
        _feature(None, code="06003", nom="C", extra=None),
        _feature({"type": "Polygon", "coordinates": SQUARE}, nom="D", code="06004"),
    ))
    _same_as_gdal(path)


@pytest.mark.parametrize("content", [
    _collection(_feature({"type": "Polygon", "coordinates": SQUARE}, code="06001", nom="A"),
                crs={"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::2154"}}),
    _collection({**_feature({"type": "Polygon", "coordinates": SQUARE}, code="06001"), "id": 7}),
    _collection(_feature({"type": "Polygon", "coordinates": SQUARE}, code=6001, nom="A")),
    _collection(_feature({"type": "Point", "coordinates": [7.0, 43.7]}, code="06001")),
    _collection(_feature({"type": "Polygon", "coordinates": [[[*p, 10.0] for p in SQUARE[0]]]}, code="1")),
    _collection(_feature({"type": "Polygon", "coordinates": [SQUARE[0][:-1]]}, code="06001")),
    _collection(_feature({"type": "MultiPolygon", "coordinates": []}, code="06001")),
    _collection(),
    '{"type": "Feature", "properties": {}, "geometry": null}',
    "\ufeff" + _collection(_feature({"type": "Polygon", "coordinates": SQUARE}, code="06001")),
    "not json",
], ids=["crs", "id", "number", "point", "height", "unclosed", "empty", "no features", "feature",
        "bom", "text"])
def test_anything_else_is_left_to_gdal(content: str, write_text: Callable[[str, str], Path]) -> None:
    assert read_plain_geojson(write_text("other.geojson", content)) is None


def test_a_file_left_to_gdal_still_loads(write_text: Callable[[str, str], Path]) -> None:
    """Numeric codes: GDAL reads the file, as before."""
    path = write_text("numbers.geojson", _collection(
        _feature({"type": "Polygon", "coordinates": SQUARE}, code=6001, nom="A")))
    frame = load_communes([path]).frame
    assert frame["insee"].tolist() == ["6001"]
    assert shapely.equals(frame.geometry.values[0], shapely.Polygon(SQUARE[0]))
