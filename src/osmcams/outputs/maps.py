"""Maps of cameras per commune: a static choropleth (PNG, SVG, PDF) and one self-contained HTML page.

matplotlib, mapclassify and the Leaflet files are read only here, when a map is drawn.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from osmcams.files import atomic_open, atomic_path
from osmcams.join import Report
from osmcams.outputs.fov import View, view_feature
from osmcams.outputs.writers import camera_feature, commune_features

MEASURES = {
    "per_km2": ("cameras_per_km2", "cameras per km²"),
    "per_10k": ("cameras_per_10k", "cameras per 10,000 inhabitants"),
}
SCHEMES = ("quantiles", "fisher_jenks")
STATIC_SUFFIXES = (".png", ".svg", ".pdf")
NO_DATA = "#d9d9d9"
PARTIAL = "#525252"  # the dots over a commune counted on part of its area
VIEW_FILL, VIEW_EDGE = "#41b6c4", "#1d6d75"  # cyan: it stands out on the yellow-red classes
PALETTE = "YlOrRd"
TYPE_COLOURS = {"camera": "#08519c", "ALPR": "#6a3d9a", "guard": "#1b7837", "unknown": "#404040"}
OTHER_COLOURS = ("#e7298a", "#66a61e", "#a6761d", "#1b9e77")
CREDIT = "© OpenStreetMap contributors, ODbL"
STATIC = "osmcams.outputs"


@dataclass(frozen=True)
class Classes:
    """Class breaks (upper bounds, ascending) and one colour per class."""

    bins: tuple[float, ...]
    colours: tuple[str, ...]

    def colour(self, value: float | None) -> str:
        """The colour of `value`'s class; the no-data grey for None."""
        if value is None:
            return NO_DATA
        for bound, colour in zip(self.bins, self.colours):
            if value <= bound:
                return colour
        return self.colours[-1]

    def labels(self, lowest: float) -> list[str]:
        """"0", "> 0 – 1.2", "> 1.2 – 3.5", … for the legend: classes hold (low, high]."""
        first = _number(self.bins[0])
        single = lowest >= self.bins[0] or len(self.bins) == 1
        labels = [first if single else f"{_number(lowest)} – {first}"]
        return labels + [f"> {_number(lo)} – {_number(hi)}" for lo, hi in zip(self.bins, self.bins[1:])]


def _number(value: float) -> str:
    return f"{value:,.2f}".rstrip("0").rstrip(".") if value else "0"


def classify(values: list[float | None], scheme: str = "quantiles", k: int = 5) -> Classes:
    """mapclassify breaks of the known `values`, coloured from light to dark."""
    import warnings

    import matplotlib
    import numpy

    known = numpy.array([v for v in values if v is not None], dtype=float)
    distinct = numpy.unique(known)
    if len(distinct) <= 1:
        bins = tuple(distinct.tolist()) or (0.0,)
    else:
        with warnings.catch_warnings():  # "not enough unique values": k shrinks, as it should;
            warnings.simplefilter("ignore", UserWarning)  # "numba not installed": slower, same breaks
            import mapclassify

            method = mapclassify.Quantiles if scheme == "quantiles" else mapclassify.FisherJenks
            bins = tuple(sorted(set(method(known, k=min(k, len(distinct))).bins.tolist())))
    cmap = matplotlib.colormaps[PALETTE]
    stops = numpy.linspace(0.15, 0.9, len(bins)) if len(bins) > 1 else [0.6]
    return Classes(bins, tuple(matplotlib.colors.to_hex(cmap(s)) for s in stops))


def type_colours(types: list[str]) -> dict[str, str]:
    """A colour for each surveillance:type, stable for the common ones."""
    others = iter(OTHER_COLOURS * (1 + len(types) // len(OTHER_COLOURS)))
    return {t: TYPE_COLOURS.get(t) or next(others) for t in sorted(set(types))}


def _area_name(report: Report) -> str:
    names = [r["name"] for r in report.rows]
    if len(names) <= 3:
        return ", ".join(names)
    departments = sorted({r["department"] for r in report.rows if r.get("department")})
    where = f" of department {', '.join(departments)}" if 0 < len(departments) <= 3 else ""
    return f"{len(names):,} communes{where}"


def _source(text: str) -> str:
    """A source without its directories: "/data/communes-06.geojson" -> "communes-06.geojson"."""
    return re.sub(r"[^\s,;()]*/([^\s/,;()]+)", r"\1", text)


def _cameras(n: int) -> str:
    return f"{n:,} camera" + ("" if n == 1 else "s")


def _date(report: Report) -> str:
    return (report.meta["data_timestamp"] or "unknown date")[:10]


def _frames(report: Report, measure: str, views: list[View] | None):
    """Communes, cameras and views as GeoDataFrames in a local metric projection."""
    import geopandas
    import shapely

    key, _ = MEASURES[measure]
    rows = [r for r in report.rows if r["insee"] in report.boundaries]
    communes = geopandas.GeoDataFrame(
        {"name": [r["name"] for r in rows],
         "value": [r.get(key) if r.get("cameras") is not None else None for r in rows],
         "partial": [_partial(r) for r in rows]},
        geometry=[report.boundaries[r["insee"]] for r in rows], crs="EPSG:4326",
    )
    crs = communes.estimate_utm_crs()
    cameras = [c for r in rows for c in report.cameras.get(r["insee"], [])]
    points = geopandas.GeoDataFrame(
        {"type": [c.surveillance_type or "unknown" for c in cameras]},
        geometry=shapely.points([[c.lon, c.lat] for c in cameras]) if cameras else [],
        crs="EPSG:4326",
    )
    cones = geopandas.GeoDataFrame(
        geometry=[v.polygon for v in views or []], crs="EPSG:4326"
    )
    return communes.to_crs(crs), points.to_crs(crs), cones.to_crs(crs)


def _partial(row: dict[str, Any]) -> float | None:
    """The covered share of a commune counted on partial data, else None."""
    coverage = row.get("coverage")
    if row.get("cameras") is None or coverage is None or coverage >= 1:
        return None
    return float(coverage)


def draw_static(
    report: Report, target: Path, measure: str = "per_km2", scheme: str = "quantiles",
    views: list[View] | None = None, overwrite: bool = False,
) -> None:
    """A choropleth of `measure` with the cameras on top, as PNG, SVG or PDF (from the suffix)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import patheffects
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    _, units = MEASURES[measure]
    communes, points, cones = _frames(report, measure, views)
    values = [None if v != v else v for v in communes["value"].tolist()]  # NaN -> None
    classes = classify(values, scheme)
    colours = [classes.colour(v) for v in values]
    minx, miny, maxx, maxy = communes.total_bounds
    aspect = (maxy - miny) / max(maxx - minx, 1.0)
    fig = plt.figure(figsize=(16, min(max(9.0, 11 * aspect + 1.5), 16)), dpi=100)
    ax = fig.add_axes((0.01, 0.07, 0.70, 0.83))
    ax.set_axis_off()
    known = [v is not None for v in values]
    communes[known].plot(ax=ax, color=[c for c, k in zip(colours, known) if k],
                         edgecolor="white", linewidth=0.8)
    if not all(known):
        communes[[not k for k in known]].plot(ax=ax, facecolor=NO_DATA, edgecolor="#969696",
                                              hatch="///", linewidth=0.8)
    partial = [v is not None and v == v for v in communes["partial"].tolist()]
    if any(partial):  # counted on part of the commune only: the count is a floor
        communes[partial].plot(ax=ax, facecolor="none", edgecolor=PARTIAL, hatch="..", linewidth=0.8)
    communes.boundary.plot(ax=ax, color="#737373", linewidth=0.5)
    if len(cones):
        cones.plot(ax=ax, facecolor=VIEW_FILL, edgecolor=VIEW_EDGE, alpha=0.55, linewidth=0.6, zorder=2)
    kinds = type_colours(points["type"].tolist())
    size = 28 if len(points) < 500 else 10 if len(points) < 5000 else 3
    for kind, colour in kinds.items():
        points[points["type"] == kind].plot(ax=ax, color=colour, markersize=size,
                                            edgecolor="white", linewidth=0.4, zorder=3)
    if len(communes) <= 30:
        halo = [patheffects.withStroke(linewidth=3, foreground="white")]
        for name, share, spot in zip(communes["name"], communes["partial"], communes.representative_point()):
            if share is not None and share == share:
                name = f"{name}\n{share:.0%} covered"
            ax.annotate(name, (spot.x, spot.y), ha="center", fontsize=11, color="#252525",
                        path_effects=halo, zorder=4)
    lowest = min([v for v in values if v is not None], default=0.0)
    shades = [Patch(facecolor=c, edgecolor="#737373", label=label)
              for c, label in zip(classes.colours, classes.labels(min(lowest, 0.0)))]
    if not all(known):
        shades.append(Patch(facecolor=NO_DATA, edgecolor="#969696", hatch="///", label="no data"))
    if any(partial):
        shades.append(Patch(facecolor="white", edgecolor=PARTIAL, hatch="..",
                            label="partly in the data: count incomplete"))
    first = fig.legend(handles=shades, title=units.capitalize(), loc="upper left", alignment="left",
                       bbox_to_anchor=(0.72, 0.88), fontsize=13, title_fontsize=14, frameon=False)
    dots: list[Any] = [Line2D([], [], marker="o", linestyle="", color=c, markersize=9,
                   label=f"{k} ({int((points['type'] == k).sum()):,})") for k, c in kinds.items()]
    if len(cones):
        dots.append(Patch(facecolor=VIEW_FILL, edgecolor=VIEW_EDGE, alpha=0.55, label="field of view"))
    if dots:
        box = first.get_window_extent().transformed(fig.transFigure.inverted())
        fig.legend(handles=dots, title="Cameras by surveillance:type", loc="upper left",
                   alignment="left", bbox_to_anchor=(0.72, box.y0 - 0.03), fontsize=13,
                   title_fontsize=14, frameon=False)
    fig.text(0.01, 0.965, f"Video surveillance mapped in OpenStreetMap: {_area_name(report)}",
             fontsize=22, weight="bold", va="top")
    fig.text(0.01, 0.925, f"{units.capitalize()}, {_cameras(len(points))}; data of {_date(report)}; "
             f"{scheme.replace('_', '-')} classes", fontsize=15, va="top", color="#404040")
    fig.text(0.01, 0.02, f"{CREDIT} · Boundaries: {_source(report.meta['boundaries'])} · osmcams "
             f"{report.meta['osmcams_version']}", fontsize=11, color="#404040")
    with atomic_path(target, overwrite) as temp:
        fmt = target.suffix.lstrip(".").lower()
        rights = {"png": "Copyright", "pdf": "Subject", "svg": "Rights"}[fmt]
        fig.savefig(temp, format=fmt, dpi=100,
                    metadata={"Title": f"Cameras, {_area_name(report)}", rights: CREDIT})
    plt.close(fig)


def _static(name: str) -> str:
    return resources.files(STATIC).joinpath(f"static/{name}").read_text(encoding="utf-8")


def html_page(
    report: Report, measure: str = "per_km2", scheme: str = "quantiles",
    views: list[View] | None = None, tiles: str | None = None, cluster: bool = True,
) -> str:
    """One HTML page with Leaflet inlined: choropleth, camera markers, views; no network needed."""
    key, units = MEASURES[measure]
    communes = commune_features(report)
    values = [f["properties"].get(key) if f["properties"].get("cameras") is not None else None
              for f in communes]
    classes = classify(values, scheme)
    for feature, value in zip(communes, values):
        feature["properties"].update(_colour=classes.colour(value), _nodata=value is None)
    cameras = [c for r in report.rows for c in report.cameras.get(r["insee"], [])]
    kinds = type_colours([c.surveillance_type or "unknown" for c in cameras])
    markers = []
    for camera in cameras:
        feature = camera_feature(camera)
        feature["properties"] = {**camera.flat_properties(),
                                 "_colour": kinds[camera.surveillance_type or "unknown"]}
        markers.append(feature)
    counts = {k: sum((c.surveillance_type or "unknown") == k for c in cameras) for k in kinds}
    lowest = min([v for v in values if v is not None], default=0.0)
    title = f"Video surveillance mapped in OpenStreetMap: {_area_name(report)}"
    data = {
        "title": title,
        "subtitle": f"{_cameras(len(cameras))}; data of {_date(report)}",
        "credit": html.escape(f"{CREDIT} | Boundaries: {_source(report.meta['boundaries'])}"),
        "units": units.capitalize() + f" ({scheme.replace('_', '-')})",
        "classes": list(zip(classes.colours, classes.labels(min(lowest, 0.0)))),
        "noData": not all(v is not None for v in values),
        "types": [[colour, f"{kind} ({counts[kind]:,})"] for kind, colour in kinds.items()],
        "communes": {"type": "FeatureCollection", "features": communes},
        "cameras": {"type": "FeatureCollection", "features": markers},
        "views": {"type": "FeatureCollection", "features": [view_feature(v) for v in views or []]},
        "tiles": tiles,
        "tilesName": tiles and re.sub(r"^https?://([^/]+).*", r"\1", tiles),
        "cluster": cluster,
    }
    script = json.dumps(data, ensure_ascii=False, allow_nan=False).replace("</", "<\\/")
    parts = {
        "title": html.escape(title),
        "css": "\n".join(_static(n) for n in ("leaflet.css", "MarkerCluster.css",
                                                "MarkerCluster.Default.css")),
        "js": "\n".join(_static(n) for n in ("leaflet.js", "leaflet.markercluster.js")),
        "data": script,
    }
    return re.sub(r"\{(title|css|js|data)\}", lambda m: parts[m.group(1)], _static("map.html"))


def write_html(report: Report, target: Path, overwrite: bool = False, **options: Any) -> None:
    """`html_page` to `target`, atomically."""
    page = html_page(report, **options)
    with atomic_open(target, overwrite) as out:
        out.write(page)
