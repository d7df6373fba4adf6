"""uMap files (`.umap`): styled layers of communes, cameras and fields of view.

uMap drops the styling of a FeatureCollection imported into a layer, so the
styling ships as a whole map: ``{"type": "umap", "properties": …, "layers":
[FeatureCollection + "_umap_options", …]}``, the format uMap exports and
imports. Every property is flat: uMap's table popup skips nested objects.
"""

from __future__ import annotations

import json
import math
import os
import re
from typing import Any

from osmcams.files import atomic_open
from osmcams.join import NO_COUNT_NOTE, Report
from osmcams.models import Camera, cameras_text, one_line
from osmcams.outputs.figures import (
    MEASURES,
    NO_DATA,
    ODBL,
    PARTIAL_DASH,
    PARTIAL_EDGE,
    covered_text,
    credit_text,
    credits,
    date_of,
    drawn,
    flat_label,
    legend_entries,
    no_data_label,
    no_data_name,
    number,
)
from osmcams.outputs.fov import View, view_feature
from osmcams.outputs.writers import camera_feature, commune_features

OSM_LINK = "[[https://www.openstreetmap.org/{@id}|See on OpenStreetMap]]"
CAMERA_POPUP = "# {name}\n{description}\n{osm_tags}\n" + OSM_LINK + "\n© OpenStreetMap contributors"
COMMUNE_POPUP = "# {name}\n{description}"


def _tags_text(camera: Camera) -> str:
    """The tags, one `key=value` a line: a line break inside a key or value shown as \\n
    (it would read as a tag line of its own), other control characters as \\xNN."""
    return "\n".join(f"{one_line(k)}={one_line(v)}" for k, v in sorted(camera.tags.items()))


def _shown(properties: dict[str, Any]) -> dict[str, Any]:
    """Properties without their empty values: uMap's table popup prints None as "null"."""
    return {k: v for k, v in properties.items() if v is not None and v != ""}


# uMap reads its own markup in a popup: {{url}} is an image it fetches (a tracker's, from a
# tag), [[url|text]] a link. Doubled, these are broken by a zero-width space between them.
_MARKUP = re.compile(r"([{}\[\]])(?=\1)")


def _unmarked(text: str) -> str:
    return _MARKUP.sub("\\1\u200b", text)


def _camera_feature(camera: Camera, insee: str, commune: str) -> dict[str, Any]:
    """The camera of commune `insee` named `commune`, as cameras.geojson has it, with its
    tags' text for the popup."""
    return _popup(camera_feature(camera, insee, commune), camera)


def _popup(feature: dict[str, Any], camera: Camera) -> dict[str, Any]:
    """`feature` of `camera` with the tags' text for its popup, uMap's markup in what the
    popup shows broken apart, empty values left out."""
    properties = {**feature["properties"], "osm_tags": _tags_text(camera)}
    for key in ("name", "description", "osm_tags"):  # what the popup shows
        if isinstance(properties.get(key), str):
            properties[key] = _unmarked(properties[key])
    feature["properties"] = _shown(properties)
    return feature


def _layer(name: str, features: list[dict[str, Any]], **options: Any) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": features,
        "_umap_options": {"name": name, "displayOnLoad": True, "browsable": True,
                          "inCaption": True, "remoteData": {}, **options},
    }


def umap_document(
    report: Report, codes: list[str], views: list[View] | None = None, by: str = "per_km2",
    scheme: str = "quantiles", credit: str | None = None,
) -> dict[str, Any]:
    """A uMap map of the communes with `codes` (those outside the data included, as "no data"):
    density in osmcams's own classes, cameras, and views when given."""
    cameras = [_camera_feature(c, code, name) for c, code, name in _placed(report, codes)]
    return _document(report, codes, cameras, len(cameras), views, by, scheme, credit)


def _placed(report: Report, codes: list[str]) -> list[tuple[Camera, str, str]]:
    """Each camera of the communes with `codes`, with its commune's code and name."""
    names = {row["insee"]: row["name"] for row in [*report.rows, *report.outside]}
    return [(c, code, names[code]) for code in codes for c in report.cameras.get(code, [])]


def _document(
    report: Report, codes: list[str], cameras: list[Any], count: int, views: list[View] | None,
    by: str, scheme: str, credit: str | None, shapes: dict[str, Any] | None = None,
    area: tuple[int, Any] | None = None,
) -> dict[str, Any]:
    """`umap_document` with `cameras` as the features of its layer of `count` cameras
    (`shapes`: see `commune_features`; `area`: more communes without data as one feature,
    their number and its geometry)."""
    key, units = MEASURES[by]
    figure = drawn(report, by, scheme, codes)
    classed: list[dict[str, Any]] = []
    unclassed: list[dict[str, Any]] = []
    unknown: list[dict[str, Any]] = []
    for feature, colour, kind, share, value in zip(
        commune_features(report, figure.rows, shapes=shapes), figure.colours, figure.kinds, figure.shares,
        figure.values,
    ):
        props = feature["properties"]
        style: dict[str, Any] = {"fillColor": colour}  # uMap keeps a feature's own colour
        if kind == "partial":
            props["covered"] = "coverage unknown" if share is None else covered_text(share)
            style.update(color=PARTIAL_EDGE, weight=3, dashArray=",".join(map(str, PARTIAL_DASH)),
                         showLabel=True, labelKey="{name}, {covered}")
        props["description"] = _commune_description(props, units, key)
        feature["properties"] = {**_shown(props), "_umap_options": style}
        (unknown if kind == "nodata" else classed if value is not None else unclassed).append(feature)
    missing = figure.count("nodata")
    if area is not None:  # drawn, styled and told as one of them
        missing += area[0]
        unknown.append({"type": "Feature", "geometry": area[1], "properties": {
            "name": no_data_name(area[0]), "description": _no_data_text(area[0]),
            "_umap_options": {"fillColor": NO_DATA}}})
    names = [r["name"] for r in figure.rows]
    title = ", ".join(names[:3]) + (f" and {len(names) - 3:,} more" if len(names) > 3 else "")
    centre = _centre([report.boundaries[r["insee"]] for r in figure.rows])
    classes = figure.classes
    legend = "; ".join(label for _, label in legend_entries(figure))
    layers = [
        _layer(f"Communes: {units}", classed, type="Choropleth",
               choropleth={"property": key, "brewer": "YlOrRd", "mode": "manual",
                           "classes": len(classes.bins), "breaks": classes.umap_breaks()}
               if classes.bins else {},
               color="white", weight=1, fillOpacity=0.7, popupTemplate="Table",
               popupContentTemplate=COMMUNE_POPUP,
               description=f"Cameras mapped in OpenStreetMap, {units}, {scheme.replace('_', '-')} "
                           f"classes (number of communes): {legend or 'none'}. A dashed outline: "
                           "partly in the OSM data, count incomplete."),
        _layer("Cameras", cameras, color="DarkRed", iconClass="Circle",
               popupContentTemplate=CAMERA_POPUP),
    ]
    if unclassed:
        layers.insert(1, _layer(f"Communes partly in the data, {units} unknown", unclassed,
                                color=PARTIAL_EDGE, fillColor="white", fillOpacity=0.5, weight=3,
                                popupTemplate="Table", popupContentTemplate=COMMUNE_POPUP))
    if unknown:
        label = flat_label(no_data_label(figure.rows), missing) or ""  # with their number, as `map`
        layers.insert(1, _layer("Communes without data", unknown, color="Gray", fillColor=NO_DATA,
                                fillOpacity=0.6, weight=1, popupTemplate="Table",
                                popupContentTemplate=COMMUNE_POPUP,
                                description=label[:1].upper() + label[1:] + ": not counted, not zero."))
    if views is not None:
        places = {c.key: (code, name) for c, code, name in _placed(report, codes)}
        features = [_popup(view_feature(v, *places.get(v.camera.key, (None, None))), v.camera)
                    for v in views]
        layers.append(_layer("Fields of view", features, color="DarkOrange", fillColor="Orange",
                             fillOpacity=0.25, weight=1,
                             popupContentTemplate=CAMERA_POPUP + "\nField of view: {fov}, {fov_range_m} m"))
    lines = credits(report.meta, credit)
    meta = report.meta
    counted = figure.count("full") + figure.count("partial")
    total = cameras_text(count, bool(figure.count("partial")))  # over a partly covered one: a floor
    return {
        "type": "umap",
        "uri": "https://github.com/osmcams/osmcams",
        "properties": {
            "name": f"Video surveillance in OpenStreetMap: {title}",
            "description": (
                f"Cameras mapped in OpenStreetMap, data of {date_of(report)}: "
                f"{total} in {counted:,} commune{'s' * (counted != 1)}, "
                f"of which {figure.count('partial'):,} partly covered"
                + (f"; {no_data_name(missing)}" if missing else "")
                + f". {credit_text(meta, credit)}. Made with osmcams {meta['osmcams_version']}."
            ),
            "shortCredit": lines[0][0],
            "longCredit": " · ".join(f"[[{url}|{text}]]" if url else text for text, url in lines),
            "licence": dict(ODBL),
            "onLoadPanel": "caption",
            "defaultView": "data",
            "zoom": 13,
            "scaleControl": True,
        },
        "geometry": {"type": "Point", "coordinates": [round(centre.x, 7), round(centre.y, 7)]},
        "layers": layers,
    }


def _centre(shapes: list[Any]) -> Any:
    """The centroid of `shapes` together, communes that do not overlap: that of their union,
    as the mean of their centroids weighted by their areas (the union of a country's
    35,000 communes takes seconds); (0, 0) without an area."""
    import numpy
    import shapely

    if not shapes:
        return shapely.Point(0, 0)
    areas = shapely.area(shapes)
    total = areas.sum()
    if not total:
        return shapely.Point(0, 0)
    used = areas > 0
    centroids = shapely.centroid(numpy.asarray(shapes, dtype=object)[used])
    weights = areas[used] / total
    return shapely.Point(shapely.get_x(centroids) @ weights, shapely.get_y(centroids) @ weights)


def write_umap(
    report: Report, codes: list[str], target: str | os.PathLike[str],
    views: list[View] | None = None, overwrite: bool = False, credit: str | None = None,
    shapes: dict[str, Any] | None = None, area: tuple[int, str] | None = None,
) -> None:
    """The uMap map of the communes with `codes` to `target`, atomically: the text of
    `json.dumps(umap_document(…))`, the cameras' features written from their tags' text
    (`shapes`: see `commune_features`); with `area`, more communes without data as one
    feature: their number and the GeoJSON text of its geometry, written as it is (a site's
    kept area, `maps.no_data_geometry`)."""
    cameras = _placed(report, codes)
    document = _document(report, codes, [PLACE], len(cameras), views, "per_km2", "quantiles", credit, shapes,
                         None if area is None else (area[0], [AREA]))
    text = json.dumps(document, ensure_ascii=False, allow_nan=False)  # C encoder
    if area is not None:
        head, mark, tail = text.partition(json.dumps([AREA]))
        assert mark, "the area's place"
        text = head + area[1] + tail
    before, place, after = text.partition(json.dumps([PLACE]))
    assert place, "the cameras' place"
    with atomic_open(target, overwrite) as out:
        out.write(before + "[")
        texts = _CameraTexts()
        for start in range(0, len(cameras), 10_000):  # in parts: a country's text is 100 MB
            part = ", ".join(texts.feature(*placed) for placed in cameras[start:start + 10_000])
            out.write(", " + part if start else part)
        out.write("]" + after + "\n")


# Where the cameras and the area go in the document's text: as a list, never found inside a
# JSON string, whose quotes are escaped.
PLACE, AREA = "\x00cameras\x00", "\x00area\x00"


class _CameraTexts:
    """`json.dumps(_camera_feature(camera, insee, commune), ensure_ascii=False)`, from pieces
    worked out once per set of tags (a country's cameras repeat a few thousand) and once per
    commune: all but the camera's id, position, timestamp and commune depend on its tags only."""

    def __init__(self) -> None:
        self.pieces: dict[tuple[Any, ...], tuple[str, str, str]] = {}
        self.places: dict[tuple[str, str], str] = {}

    def feature(self, camera: Camera, insee: str, commune: str) -> str:
        lon, lat = round(camera.lon, 7), round(camera.lat, 7)
        if not (type(lon) is type(lat) is float and math.isfinite(lon) and math.isfinite(lat)):
            return json.dumps(_camera_feature(camera, insee, commune), ensure_ascii=False, allow_nan=False)
        key = camera.tag_set()
        pieces = self.pieces.get(key)
        if pieces is None:  # properties in the order of Camera.flat_properties
            properties = _camera_feature(camera, insee, commune)["properties"]
            for own in ("@id", "@timestamp", "insee", "commune"):
                properties.pop(own, None)
            pieces = self.pieces[key] = (
                _members({k: properties.pop(k) for k in ("name", "description") if k in properties}),
                _members({k: properties.pop(k) for k in ("@direction",) if k in properties}),
                _members(properties))
        place = self.places.get((insee, commune))
        if place is None:
            place = self.places[insee, commune] = _members(_shown({"insee": insee, "commune": commune}))
        first, turned, rest = pieces
        stamp = camera.timestamp
        stamped = '"@timestamp": ' + _string(stamp) if stamp is not None and stamp != "" else ""
        ident = _string(camera.key)
        members = ", ".join(p for p in ('"@id": ' + ident, first, place, turned, stamped, rest) if p)
        return (f'{{"type": "Feature", "id": {ident}, "geometry": {{"type": "Point", "coordinates": '
                f'[{lon!r}, {lat!r}]}}, "properties": {{{members}}}}}')


def _members(properties: dict[str, Any]) -> str:
    """The members of `properties` as JSON text, without the braces."""
    return json.dumps(properties, ensure_ascii=False, allow_nan=False)[1:-1]


def _string(text: str) -> str:
    """`json.dumps(text, ensure_ascii=False)`, quickly for plain ASCII (an id, a date)."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    return json.dumps(text, ensure_ascii=False)


def _no_data_text(communes: int, unknown: bool = False) -> str:
    """What the popup of `communes` without data says (`unknown`: one the data may not cover,
    join.NO_COUNT_NOTE)."""
    if unknown:
        return ("No count: the OSM data does not say whether it covers this commune, so its cameras "
                "were not counted.")
    if communes == 1:
        return "No data: the OSM data does not cover this commune, so its cameras were not counted."
    return "No data: the OSM data does not cover these communes, so their cameras were not counted."


def _commune_description(row: dict[str, Any], units: str, key: str) -> str:
    if row.get("cameras") is None:
        return _no_data_text(1, row.get("note") == NO_COUNT_NOTE)
    value = row.get(key)
    text = f"{cameras_text(row['cameras'])}; " + (
        f"{number(value)} {units}" if value is not None else f"{units}: unknown")
    if row.get("covered"):
        text += f". Partly in the data ({row['covered']}): the count is a floor"
    return text
