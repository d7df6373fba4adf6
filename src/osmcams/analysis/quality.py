"""What the mappers still have to do: missing tags, odd values, notes and near-duplicates.

The documented values are those of the OpenStreetMap wiki pages for
man_made=surveillance and its keys (surveillance, surveillance:type,
surveillance:zone, camera:type, camera:mount).
"""

from __future__ import annotations

import functools
from collections import Counter
from typing import Any

from osmcams.join import Report
from osmcams.models import DIRECTION_KEYS, Camera, direction_source, direction_tag, parse_directions

CHECKED = ("surveillance", "surveillance:type", "camera:type", "camera:mount", "camera:direction",
           "surveillance:zone", "operator")
DOCUMENTED = {
    "surveillance": {"public", "outdoor", "indoor"},
    "surveillance:type": {"camera", "ALPR", "guard", "gunshot_detector"},
    "surveillance:zone": {"town", "parking", "traffic", "shop", "bank", "building", "entrance",
                          "nesting_site"},
    "camera:type": {"fixed", "panning", "dome"},
    "camera:mount": {"wall", "pole", "ceiling", "street_lamp"},
}
NOT_CAMERAS = {"guard", "gunshot_detector"}  # surveillance types without camera:* tags
TURNING = {"panning", "dome"}  # camera types without one direction
PLAIN = {
    "surveillance": "no surveillance (public, outdoor or indoor)",
    "surveillance:type": "no surveillance:type",
    "camera:type": "no camera:type",
    "camera:mount": "no mount",
    "camera:direction": "no direction",
    "surveillance:zone": "no zone",
    "operator": "no operator",
}
NOTE_KEYS = ("fixme", "FIXME", "note")


def expected_tags(tags: dict[str, str]) -> list[str]:
    """The checked tags that apply to a camera with `tags`.

    camera:type and camera:mount apply to cameras (any surveillance:type but guard and
    gunshot_detector), camera:direction to those that do not turn (not panning or dome).
    """
    wanted = ["surveillance", "surveillance:type", "surveillance:zone", "operator"]
    if tags.get("surveillance:type") not in NOT_CAMERAS:
        wanted += ["camera:type", "camera:mount"]
        if tags.get("camera:type") not in TURNING:
            wanted.append("camera:direction")
    return [key for key in CHECKED if key in wanted]


def missing_tags(tags: dict[str, str]) -> list[str]:
    """The applicable checked tags that `tags` lacks (any direction key gives a direction)."""
    def present(key: str) -> bool:
        if key == "camera:direction":
            return direction_tag(tags) is not None
        return bool(tags.get(key, "").strip())

    return [key for key in expected_tags(tags) if not present(key)]


def odd_values(tags: dict[str, str]) -> dict[str, str]:
    """Tags whose value is not a documented one, or a direction that cannot be read."""
    odd = {key: tags[key] for key, values in DOCUMENTED.items() if key in tags and tags[key] not in values}
    found = direction_source(tags)  # under its own key: direction=45- is no camera:direction
    if found is not None and parse_directions(found[1]) is None:
        odd[found[0]] = found[1]
    return odd


def notes(tags: dict[str, str]) -> list[str]:
    """fixme and note texts."""
    return [f"{key}: {tags[key]}" for key in NOTE_KEYS if tags.get(key)]


def near_duplicates(cameras: list[Camera], distance: float) -> list[tuple[int, int, float]]:
    """Pairs (i < j, metres) of cameras closer than `distance` metres on the ellipsoid.

    The candidates share a cell, or touch cells, of a grid of `distance` (with the margin of
    `match.candidates` for the projection's scale error) on an azimuthal equidistant
    projection centred on the cameras: without scipy's import, for a commune's few cameras.
    """
    import numpy
    from pyproj import Geod, Transformer

    if len(cameras) < 2:
        return []
    lons = numpy.array([c.lon for c in cameras])
    lats = numpy.array([c.lat for c in cameras])
    local = Transformer.from_pipeline(
        "+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad"
        f" +step +proj=aeqd +lat_0={_median(lats)} +lon_0={_median(lons)}"
        " +ellps=WGS84 +units=m")
    x, y = local.transform(lons, lats)
    size = distance * 1.05 + 1.0
    cx, cy = (x // size).astype(numpy.int64), (y // size).astype(numpy.int64)
    width = int(cy.max() - cy.min()) + 3  # cells numbered row by row, with a margin all round
    cells = (cx - cx.min() + 1) * width + (cy - cy.min() + 1)
    order = numpy.argsort(cells, kind="stable")
    ranked = cells[order]
    # each camera with those of its own cell and of the 8 beside it, all in one search
    near = (cells[:, None] + numpy.array([dx * width + dy for dx in (-1, 0, 1) for dy in (-1, 0, 1)])).ravel()
    low = numpy.searchsorted(ranked, near, "left")
    counts = numpy.searchsorted(ranked, near, "right") - low
    mine = numpy.repeat(numpy.arange(len(near)) // 9, counts)
    offsets = numpy.arange(int(counts.sum())) - numpy.repeat(numpy.cumsum(counts) - counts, counts)
    theirs = order[numpy.repeat(low, counts) + offsets]
    kept = mine < theirs
    first, second = mine[kept], theirs[kept]
    if not len(first):
        return []
    _, _, metres = Geod(ellps="WGS84").inv(lons[first], lats[first], lons[second], lats[second])
    return sorted((i, j, d) for i, j, d in zip(first.tolist(), second.tolist(), metres.tolist())
                  if d < distance)


def _median(values: Any) -> float:
    """`numpy.median` of an array without NaN, without its import of numpy.ma."""
    ordered = values.copy()
    ordered.sort()
    middle = len(ordered) // 2
    return float(ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2)


def commune_quality(cameras: list[Camera], distance: float) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The commune's counts, and the to-do features (one per camera to complete)."""
    missing: Counter[str] = Counter()
    odd: dict[str, Counter[str]] = {}
    with_notes = 0
    pairs = near_duplicates(cameras, distance)
    close = _close(cameras, pairs)
    features, unreadable = [], []
    for index, camera in enumerate(cameras):
        lacks, strange, texts, bad, found = _camera_todo(tuple(camera.tags.items()), camera.direction is None)
        missing.update(lacks)
        for key, value in strange:
            odd.setdefault(key, Counter())[value] += 1
        with_notes += bool(texts)
        if bad:
            unreadable.append({"@id": camera.key, "key": bad[0], "value": bad[1]})
        todo = [*found, *texts, *close.get(index, [])]
        if todo:
            features.append(_todo_feature(camera, todo))
    counts = {
        "missing": {key: missing[key] for key in CHECKED},
        "fixme": with_notes,
        "odd_values": {key: dict(values.most_common()) for key, values in odd.items()},
        "near_duplicates": len(pairs),
        "to_complete": len(features),
        "unreadable_directions": unreadable,
    }
    return counts, features


def _close(cameras: list[Camera], pairs: list[tuple[int, int, float]]) -> dict[int, list[str]]:
    """The near-duplicate items of each camera of `pairs`."""
    close: dict[int, list[str]] = {}
    for i, j, d in pairs:
        close.setdefault(i, []).append(f"near duplicate, {d:.1f} m from {cameras[j].key}")
        close.setdefault(j, []).append(f"near duplicate, {d:.1f} m from {cameras[i].key}")
    return close


def todo_texts(cameras: list[Camera], distance: float) -> list[tuple[Camera, str]]:
    """Each camera to complete with its to-do text (its feature's description in
    `commune_quality`), in their order: a mapping party's list, without the counts."""
    close = _close(cameras, near_duplicates(cameras, distance))
    found = []
    for index, camera in enumerate(cameras):
        _, _, texts, _, todo = _camera_todo(tuple(camera.tags.items()), camera.direction is None)
        near = close.get(index)
        if todo or texts or near:
            found.append((camera, "; ".join([*todo, *texts, *(near or ())])))
    return found


@functools.lru_cache(maxsize=4096)
def _camera_todo(items: tuple[tuple[str, str], ...], no_direction: bool) -> tuple[
        list[str], list[tuple[str, str]], list[str], tuple[str, str] | None, list[str]]:
    """What a camera with these tags (and no direction read from them, if so) lacks, its odd
    values, notes, direction to fix (key, value) and the to-do items these make: they
    depend on its tags only, and a country's cameras repeat a few thousand tag sets.
    Callers must not change what it returns."""
    tags = dict(items)
    lacks, strange, texts = missing_tags(tags), odd_values(tags), notes(tags)
    found = direction_source(tags) if no_direction else None
    todo = [PLAIN[key] for key in lacks]
    todo += [f"odd {key}={value}" for key, value in strange.items() if key not in DIRECTION_KEYS]
    if found:
        todo.append(f"direction that cannot be read: {found[0]}={found[1]}")
    return lacks, list(strange.items()), texts, found, todo


def _todo_feature(camera: Camera, todo: list[str]) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [round(camera.lon, 7), round(camera.lat, 7)]},
        "properties": {
            **camera.tags,
            "name": f"{camera.tags.get('name') or 'camera'} to complete ({camera.key})",
            "description": "; ".join(todo),
            "@id": camera.key,
            "osm_url": f"https://www.openstreetmap.org/{camera.key}",
        },
    }


def quality(report: Report, distance: float = 3.0) -> tuple[Report, dict[str, list[dict[str, Any]]]]:
    """Rows per commune (insee, name, cameras, missing, fixme, odd_values, near_duplicates,
    to_complete, unreadable_directions: each camera's @id, direction key and the value
    that cannot be read), and the to-do features of each commune with data.

    A commune the data does not cover keeps cameras null, with count's note as the reason;
    one partly covered is `partial`, with its `coverage`: its counts are lower bounds.
    """
    rows, todo = [], {}
    for row in report.rows:
        base = {"insee": row["insee"], "name": row["name"], "cameras": row.get("cameras"),
                "coverage": row.get("coverage"), "partial": bool(row.get("partial"))}
        if row.get("cameras") is None:
            rows.append({**base, "missing": None, "fixme": None, "odd_values": None,
                         "near_duplicates": None, "to_complete": None, "unreadable_directions": None,
                         "reason": row["note"]})
            continue
        counts, features = commune_quality(report.cameras[row["insee"]], distance)
        rows.append({**base, **counts, "reason": None})
        todo[row["insee"]] = features
    meta = {**report.meta, "duplicate_distance_m": distance,
            "documented_values": {key: sorted(values) for key, values in DOCUMENTED.items()}}
    return Report(meta, rows, list(report.warnings), report.cameras, report.boundaries), todo
