"""uMap files (`.umap`): styled layers of communes, cameras and fields of view.

uMap drops the styling of a FeatureCollection imported into a layer, so the
styling ships as a whole map: ``{"type": "umap", "properties": …, "layers":
[FeatureCollection + "_umap_options", …]}``, the format uMap exports and
imports. Every property is flat: uMap's table popup skips nested objects.
"""

from __future__ import annotations

import json
import os
from typing import Any

from osmcams.files import atomic_open
from osmcams.join import Report
from osmcams.models import Camera
from osmcams.outputs.fov import View, view_feature
from osmcams.outputs.writers import camera_feature, commune_features

CREDIT = "© OpenStreetMap contributors, ODbL"
OSM_LINK = "[[https://www.openstreetmap.org/{@id}|See on OpenStreetMap]]"
CAMERA_POPUP = "# {name}\n{description}\n{osm_tags}\n" + OSM_LINK + "\n© OpenStreetMap contributors"
DENSITY = {"per_km2": ("cameras_per_km2", "cameras per km²"),
           "per_10k": ("cameras_per_10k", "cameras per 10,000 inhabitants")}


def _tags_text(camera: Camera) -> str:
    return "\n".join(f"{k}={v}" for k, v in sorted(camera.tags.items()))


def _camera_feature(camera: Camera) -> dict[str, Any]:
    feature = camera_feature(camera)
    feature["properties"] = {**camera.flat_properties(), "osm_tags": _tags_text(camera)}
    return feature


def _layer(name: str, features: list[dict[str, Any]], **options: Any) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": features,
        "_umap_options": {"name": name, "displayOnLoad": True, "browsable": True,
                          "inCaption": True, "remoteData": {}, **options},
    }


def umap_document(
    report: Report, codes: list[str], views: list[View] | None = None, by: str = "per_km2"
) -> dict[str, Any]:
    """A uMap map of the communes with `codes`: density, cameras, and views when given."""
    import shapely

    key, units = DENSITY[by]
    communes = [f for f in commune_features(report) if f["properties"]["insee"] in codes]
    for feature in communes:
        feature["properties"]["description"] = _commune_description(feature["properties"], units, key)
    known = [f for f in communes if f["properties"].get(key) is not None]
    unknown = [f for f in communes if f["properties"].get(key) is None]
    cameras = [_camera_feature(c) for code in codes for c in report.cameras.get(code, [])]
    meta = report.meta
    names = [f["properties"]["name"] for f in communes]
    title = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    outline = shapely.union_all([report.boundaries[c] for c in codes if c in report.boundaries])
    centre = outline.centroid if not outline.is_empty else shapely.Point(0, 0)
    commune_popup = "# {name}\n{description}"
    layers = [
        _layer(f"Communes: {units}", known, type="Choropleth",
               choropleth={"property": key, "brewer": "YlOrRd", "classes": min(5, max(len(known), 1)),
                           "mode": "quantiles"},
               color="white", weight=1, fillOpacity=0.7, popupTemplate="Table",
               popupContentTemplate=commune_popup,
               description=f"Cameras mapped in OpenStreetMap, {units}"),
        _layer("Cameras", cameras, color="DarkRed", iconClass="Circle",
               popupContentTemplate=CAMERA_POPUP),
    ]
    if unknown:
        layers.insert(1, _layer("Communes without data", unknown, color="Gray", fillColor="LightGray",
                                fillOpacity=0.5, weight=1, dashArray="4,4",
                                popupTemplate="Table", popupContentTemplate=commune_popup))
    if views is not None:
        features = [view_feature(v) for v in views]
        for feature, view in zip(features, views):
            feature["properties"]["osm_tags"] = _tags_text(view.camera)
        layers.append(_layer("Fields of view", features, color="DarkOrange", fillColor="Orange",
                             fillOpacity=0.25, weight=1,
                             popupContentTemplate=CAMERA_POPUP + "\nField of view: {fov}, {fov_range_m} m"))
    return {
        "type": "umap",
        "uri": "https://github.com/osmcams/osmcams",
        "properties": {
            "name": f"Video surveillance in OpenStreetMap: {title}",
            "description": (
                f"Cameras mapped in OpenStreetMap, data of {meta['data_timestamp'] or 'unknown date'}; "
                f"boundaries: {meta['boundaries']}; population: {meta['population_source'] or 'none'}. "
                f"Made with osmcams {meta['osmcams_version']}."
            ),
            "shortCredit": CREDIT,
            "longCredit": f"{CREDIT}; boundaries: {meta['boundaries']}",
            "licence": "ODbL",
            "onLoadPanel": "caption",
            "defaultView": "data",
            "zoom": 13,
            "scaleControl": True,
        },
        "geometry": {"type": "Point", "coordinates": [round(centre.x, 7), round(centre.y, 7)]},
        "layers": layers,
    }


def write_umap(
    report: Report, codes: list[str], target: str | os.PathLike[str],
    views: list[View] | None = None, overwrite: bool = False,
) -> None:
    """The uMap map of the communes with `codes` to `target`, atomically."""
    document = umap_document(report, codes, views)
    with atomic_open(target, overwrite) as out:
        out.write(json.dumps(document, ensure_ascii=False, allow_nan=False) + "\n")  # C encoder


def _commune_description(row: dict[str, Any], units: str, key: str) -> str:
    if row.get("cameras") is None:
        return "No data: " + str(row.get("reason") or "the OSM data does not cover this commune")
    value = row.get(key)
    return f"{row['cameras']} cameras; " + (
        f"{value} {units}" if value is not None else f"{units}: unknown")
