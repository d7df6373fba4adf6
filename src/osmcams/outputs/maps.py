"""Maps of cameras per commune: a static choropleth (PNG, SVG, PDF) and one self-contained HTML page.

matplotlib, mapclassify and the Leaflet files are read only here, when a map is drawn.
"""

from __future__ import annotations

import functools
import html
import json
import math
import re
import textwrap
from importlib import resources
from pathlib import Path
from typing import Any

from osmcams.files import atomic_open, atomic_path
from osmcams.join import Report
from osmcams.models import cameras_text, printable
from osmcams.outputs.figures import (
    MEASURES,
    NO_COUNT_LABEL,
    NO_DATA,
    NO_DATA_EDGE,
    PARTIAL_DASH,
    PARTIAL_EDGE,
    PARTIAL_LABEL,
    Drawn,
    covered_text,
    credits,
    date_of,
    drawn,
    drawn_rows,
    drawn_text,
    flat_label,
    html_text,
    legend_entries,
    no_data_label,
    no_data_mark,
    no_data_name,
    shown_text,
)
from osmcams.outputs.fov import View, view_feature
from osmcams.outputs.writers import camera_feature, commune_features

SCHEMES = ("quantiles", "fisher_jenks")
STATIC_SUFFIXES = (".png", ".svg", ".pdf")
VIEW_FILL, VIEW_EDGE = "#41b6c4", "#1d6d75"  # cyan: it stands out on the yellow-red classes
TYPE_COLOURS = {"camera": "#08519c", "ALPR": "#6a3d9a", "guard": "#1b7837", "unknown": "#404040"}
OTHER_COLOURS = ("#e7298a", "#66a61e", "#a6761d", "#1b9e77")
STATIC = "osmcams.outputs"
NAMED = 30  # communes with a count named on the static map, at most
# Where a name may go from its commune's inner point, in points, in turn: the first free; from
# the second ring on, a line leads from the name to its point.
LABEL_SHIFTS = ((0.0, 0.0), *((round(2.4 * r * math.cos(a), 1), round(r * math.sin(a), 1))
                              for r in (13, 26, 39) for a in (math.pi / 2, -math.pi / 2, *(
                                  k * math.pi / 4 for k in (1, 3, 5, 7, 0, 4)))))
LEADER_FROM = 20.0  # points: a name moved further gets a line to its commune
LABEL_WIDTH = 20  # characters: a longer name is broken at its spaces and hyphens
TITLE_POINTS, SMALLEST_TITLE = 22, 15  # the static map's title, and the least it shrinks to
SCALE_STRIP = 0.08  # of the communes' height: the strip below them that holds the scale bar


def type_colours(types: list[str]) -> dict[str, str]:
    """A colour for each surveillance:type, stable for the common ones."""
    others = iter(OTHER_COLOURS * (1 + len(types) // len(OTHER_COLOURS)))
    return {t: TYPE_COLOURS.get(t) or next(others) for t in sorted(set(types))}


def _area_name(report: Report, named: bool = True) -> str:
    """The names of up to three communes (unless not `named`), else how many, and where."""
    rows = drawn_rows(report) or report.rows
    names = [r["name"] for r in rows]
    if named and len(names) <= 3:
        return ", ".join(names)
    departments = sorted({r.get("department") or "" for r in rows})
    where = (f" of department{'s' * (len(departments) > 1)} {', '.join(departments)}"
             if 0 < len(departments) <= 3 and all(departments) else "")  # none when one lies in none (Monaco)
    return f"{len(names):,} commune{'s' * (len(names) != 1)}{where}"


def _title(fig: Any, report: Report) -> tuple[str, float]:
    """The static map's title and its size in points: on one line across the figure, smaller
    down to SMALLEST_TITLE for long names, else with the communes counted, not named."""
    from matplotlib.font_manager import FontProperties

    renderer = fig.canvas.get_renderer()
    room = 0.98 * fig.get_figwidth() * fig.dpi  # from x = 0.01 to 0.99

    def width(text: str, points: float) -> float:
        font = FontProperties(size=points, weight="bold")
        return float(renderer.get_text_width_height_descent(text, font, ismath=False)[0])

    named = f"Video surveillance mapped in OpenStreetMap: {drawn_text(_area_name(report))}"
    wide = width(named, TITLE_POINTS)
    if wide <= room:
        return named, TITLE_POINTS
    points = math.floor(TITLE_POINTS * room / wide * 10) / 10
    if points >= SMALLEST_TITLE and width(named, points) <= room:
        return named, points
    return (f"Video surveillance mapped in OpenStreetMap: {drawn_text(_area_name(report, named=False))}",
            TITLE_POINTS)


def _frames(report: Report, figure: Drawn, views: list[View] | None):
    """Communes, cameras and views as GeoDataFrames in a local metric projection."""
    import geopandas
    import shapely

    rows = figure.rows
    communes = geopandas.GeoDataFrame(
        {"name": [r["name"] for r in rows], "kind": figure.kinds, "colour": figure.colours,
         "share": figure.shares,
         "mark": [no_data_mark(r) if k == "nodata" else "" for r, k in zip(rows, figure.kinds)]},
        geometry=[report.boundaries[r["insee"]] for r in rows], crs="EPSG:4326",
    )
    crs = communes.estimate_utm_crs() if len(communes) else "EPSG:3857"
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


def _scale_room(ax: Any) -> None:
    """An empty strip along the bottom of the map, below every commune, for the scale bar."""
    y0, y1 = ax.get_ylim()
    ax.set_ylim(y0 - SCALE_STRIP * (y1 - y0), y1)


def _scale_bar(ax: Any, patheffects: Any) -> None:
    """A bar of a round length (1, 2 or 5 × 10ⁿ m), about a fifth of the map wide, bottom left,
    its length on its right. The map is in a UTM projection: its units are metres, true near
    the central meridian."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    target = (x1 - x0) / 5
    power = 10 ** math.floor(math.log10(target))
    length = max(m * power for m in (1, 2, 5) if m * power <= target)
    x, y = x0 + (x1 - x0) * 0.03, y0 + (y1 - y0) * SCALE_STRIP / (1 + SCALE_STRIP) / 2
    halo = [patheffects.withStroke(linewidth=4, foreground="white")]
    ax.plot([x, x + length], [y, y], color="#252525", linewidth=3, solid_capstyle="butt",
            path_effects=halo, zorder=5)
    text = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    ax.annotate(text, (x + length, y), xytext=(6, 0), textcoords="offset points", ha="left",
                va="center", fontsize=12, color="#252525", path_effects=halo, zorder=5)


def _inset_bounds(communes: Any, counted: Any) -> tuple[float, float, float, float] | None:
    """The extent of the counted communes, padded, when they fill under a tenth of the map's
    width and height; else None."""
    if not len(counted) or len(counted) == len(communes):
        return None
    minx, miny, maxx, maxy = communes.total_bounds
    x0, y0, x1, y1 = counted.total_bounds
    if (x1 - x0) > 0.25 * (maxx - minx) or (y1 - y0) > 0.25 * (maxy - miny):
        return None
    pad = 0.12 * max(x1 - x0, y1 - y0)
    return x0 - pad, y0 - pad, x1 + pad, y1 + pad


def _draw_layers(ax: Any, communes: Any, points: Any, cones: Any, kinds: dict[str, str]) -> None:
    """Communes by kind, the dashed outlines, views and cameras on `ax`."""
    ax.set_axis_off()
    for kind, style in (("full", {"edgecolor": "white", "linewidth": 0.8}),
                        ("partial", {"edgecolor": "white", "linewidth": 0.8}),
                        ("nodata", {"edgecolor": NO_DATA_EDGE, "hatch": "///", "linewidth": 0.6})):
        part = communes[communes["kind"] == kind]
        if len(part):
            part.plot(ax=ax, color=part["colour"].tolist(), **style)
    if len(communes):
        communes.boundary.plot(ax=ax, color="#737373", linewidth=0.5)
    partial = communes[communes["kind"] == "partial"]
    if len(partial):  # counted on part of the commune only: the count is a floor
        partial.boundary.plot(ax=ax, color=PARTIAL_EDGE, linewidth=2.2,
                              linestyle=(0, tuple(d / 2.2 for d in PARTIAL_DASH)), zorder=2)
    if len(cones):
        cones.plot(ax=ax, facecolor=VIEW_FILL, edgecolor=VIEW_EDGE, alpha=0.55, linewidth=0.6, zorder=2)
    size = 28 if len(points) < 500 else 10 if len(points) < 5000 else 3
    for kind, colour in kinds.items():
        points[points["type"] == kind].plot(ax=ax, color=colour, markersize=size,
                                            edgecolor="white", linewidth=0.4, zorder=3)


def place_names(ax: Any, named: Any, points: Any) -> None:
    """The names of the `named` communes on `ax`, whose limits are set, a long one on several
    lines, with their coverage when partly covered, their `mark` when without a count ("no
    data" for one outside the data); none when there are more than NAMED, but the partly
    covered ones if they are few enough. The counted communes first, the larger first, each at
    the first of LABEL_SHIFTS from its inner point that lies inside the map and on no name
    placed before, and on no camera of `points` if one can (then the fewest); a name with no
    such place is left out, as one over another would hide both. Each name is text over a
    white outline of its own (`_halo`)."""
    import numpy
    from matplotlib.text import Text

    if len(named) > NAMED:  # too many to name: the partly covered ones, if few enough
        named = named[named["kind"] == "partial"]
        if len(named) > NAMED:
            return
    ax.apply_aspect()  # where the data lie on the figure, as it will be drawn
    renderer = ax.figure.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    dots = ax.transData.transform(numpy.column_stack((points.geometry.x, points.geometry.y))
                                  if len(points) else numpy.empty((0, 2)))
    placed: list[Any] = []
    named = named.iloc[numpy.lexsort((-named.area.to_numpy(), (named["kind"] == "nodata").to_numpy()))]
    for name, share, mark, spot in zip(named["name"], named["share"], named["mark"],
                                       named.representative_point()):
        name = drawn_text("\n".join(textwrap.wrap(name, LABEL_WIDTH, break_long_words=False)))
        if share is not None and share == share:
            name = f"{name}\n{covered_text(share)}"
        elif mark:
            name = f"{name}\n{mark}"
        best: tuple[int, Any, Any] | None = None
        for shift in LABEL_SHIFTS:
            far = math.hypot(*shift) > LEADER_FROM
            text = ax.annotate(name, (spot.x, spot.y), xytext=shift, textcoords="offset points",
                               ha="center", va="center", fontsize=10, color="#252525",
                               zorder=4, arrowprops={
                                   "arrowstyle": "-", "color": "#252525", "linewidth": 0.9,
                                   "shrinkA": 0, "shrinkB": 2} if far else None)
            text.update_positions(renderer)
            box = Text.get_window_extent(text, renderer).padded(2)  # the name, not its line
            free = (frame.contains(*box.min) and frame.contains(*box.max)
                    and not any(box.overlaps(other) for other in placed))
            covered = int(((dots >= box.min) & (dots <= box.max)).all(axis=1).sum()) if free else 0
            if free and (best is None or covered < best[0]):
                if best is not None:
                    best[1].remove()
                best = (covered, text, box)
            else:
                text.remove()
            if best is not None and best[0] == 0:
                break
        if best is not None:
            placed.append(best[2])
            _halo(ax, best[1])


def _halo(ax: Any, name: Any) -> None:
    """A white outline under the annotation `name`, drawn as an annotation of its own: the name
    itself, with no path effect (which turns a text into glyph outlines), stays text in an SVG."""
    from matplotlib import patheffects

    ax.annotate(name.get_text(), name.xy, xytext=name.xyann, textcoords="offset points",
                ha="center", va="center", fontsize=name.get_fontsize(), color="white",
                path_effects=[patheffects.Stroke(linewidth=3, foreground="white")],
                zorder=name.get_zorder() - 0.1)


def draw_static(
    report: Report, target: Path, measure: str = "per_km2", scheme: str = "quantiles",
    views: list[View] | None = None, overwrite: bool = False, credit: str | None = None,
) -> None:
    """A choropleth of `measure` with the cameras on top, as PNG, SVG or PDF (from the suffix)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import patheffects
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch, Rectangle

    _, units = MEASURES[measure]
    figure = drawn(report, measure, scheme)
    communes, points, cones = _frames(report, figure, views)
    minx, miny, maxx, maxy = communes.total_bounds if len(communes) else (0, 0, 1, 1)
    aspect = (maxy - miny) / max(maxx - minx, 1.0)
    fig = plt.figure(figsize=(16, min(max(9.0, 11 * aspect + 1.5), 16)), dpi=100)
    ax = fig.add_axes((0.01, 0.07, 0.70, 0.83))
    kinds = type_colours(points["type"].tolist())
    counted = communes[communes["kind"] != "nodata"]
    inset = _inset_bounds(communes, counted)
    _draw_layers(ax, communes, points, cones, kinds)
    if len(communes):
        _scale_room(ax)
        _scale_bar(ax, patheffects)
    if not inset:  # every commune named when few enough, else the counted ones
        place_names(ax, communes if len(communes) <= NAMED else counted, points)
    if inset:  # the counted communes are a speck of the map: drawn again, closer, on the right
        x0, y0, x1, y1 = inset
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor="#252525",
                               linewidth=1.2, zorder=5))
        width = 0.27
        height = min(0.36, width * (y1 - y0) / (x1 - x0) * fig.get_figwidth() / fig.get_figheight())
        zoom = fig.add_axes((0.72, 0.08, width, height))
        _draw_layers(zoom, communes, points, cones, kinds)
        zoom.set_xlim(x0, x1)
        zoom.set_ylim(y0, y1)
        place_names(zoom, counted, points)
        zoom.set_axis_on()
        zoom.set(xticks=[], yticks=[], xlabel="", ylabel="")
        _scale_bar(zoom, patheffects)
    shades: list[Any] = [Patch(facecolor=c, edgecolor="#737373", label=label)
                         for c, label in legend_entries(figure)]
    if figure.count("partial"):
        shades.append(Patch(facecolor="white", edgecolor=PARTIAL_EDGE, linestyle="--", linewidth=2,
                            label=f"{PARTIAL_LABEL} ({figure.count('partial'):,})"))
    if figure.count("nodata"):
        shades.append(Patch(facecolor=NO_DATA, edgecolor=NO_DATA_EDGE, hatch="///",
                            label=f"{no_data_label(figure.rows)} ({figure.count('nodata'):,})"))
    first = fig.legend(handles=shades, title=f"{units.capitalize()}\n(number of communes)", loc="upper left",
                       alignment="left", bbox_to_anchor=(0.72, 0.88), fontsize=12,
                       title_fontsize=14, frameon=False)
    floor = "≥" * bool(figure.count("partial"))  # a total over a partly covered commune: a lower bound
    dots: list[Any] = [Line2D([], [], marker="o", linestyle="", color=c, markersize=9,
                   label=f"{drawn_text(k)} ({floor}{int((points['type'] == k).sum()):,})")
                       for k, c in kinds.items()]
    if len(cones):
        dots.append(Patch(facecolor=VIEW_FILL, edgecolor=VIEW_EDGE, alpha=0.55, label="field of view"))
    if dots:
        box = first.get_window_extent().transformed(fig.transFigure.inverted())
        fig.legend(handles=dots, title="Cameras by surveillance:type", loc="upper left",
                   alignment="left", bbox_to_anchor=(0.72, box.y0 - 0.03), fontsize=12,
                   title_fontsize=14, frameon=False)
    title, title_size = _title(fig, report)
    fig.text(0.01, 0.965, title, fontsize=title_size, weight="bold", va="top")
    fig.text(0.01, 0.925, f"{units.capitalize()}, {cameras_text(len(points), bool(floor))}; data of "
             f"{date_of(report)}; {scheme.replace('_', '-')} classes", fontsize=15, va="top",
             color="#404040")
    lines = [drawn_text(text) for text, _ in credits(report.meta, credit)]
    fig.text(0.01, 0.015, " · ".join(lines) + f" · osmcams {report.meta['osmcams_version']}",
             fontsize=10, color="#404040", wrap=True)
    with atomic_path(target, overwrite) as temp:
        fmt = target.suffix.lstrip(".").lower()
        rights = {"png": "Copyright", "pdf": "Subject", "svg": "Rights"}[fmt]
        fig.savefig(temp, format=fmt, dpi=100,
                    metadata={"Title": printable(f"Cameras, {_area_name(report)}"), rights: lines[0]})
    plt.close(fig)


@functools.cache
def static_text(name: str) -> str:
    """A file of the package's static folder (read once a process)."""
    return resources.files(STATIC).joinpath(f"static/{name}").read_text(encoding="utf-8")


def _credit_html(meta: dict[str, Any], credit: str | None) -> str:
    """The credits as HTML, escaped, each linked to its licence or source when known."""
    return " | ".join(
        f'<a href="{html.escape(url)}" target="_blank" rel="noopener">{html_text(text)}</a>'
        if url else html_text(text)
        for text, url in credits(meta, credit)
    )


def map_data(
    report: Report, measure: str = "per_km2", scheme: str = "quantiles",
    views: list[View] | None = None, tiles: str | None = None, cluster: bool = True,
    credit: str | None = None, types: dict[str, int] | None = None, outside: int = 0,
) -> dict[str, Any]:
    """What the map page draws: choropleth, camera markers, views, legend and credits.

    With `types` (the cameras by surveillance:type), the communes come without outlines
    and there are no markers: the page gets them from elsewhere (the site's data files).
    `outside`: communes without data that the page draws as one area (`no_data_area`),
    counted in the legend.
    """
    _, units = MEASURES[measure]
    figure = drawn(report, measure, scheme)
    communes = commune_features(report, figure.rows, outlines=types is None)
    unknown = no_data_label(figure.rows) == NO_COUNT_LABEL  # not said to lie outside the data
    for feature, colour, kind, share in zip(communes, figure.colours, figure.kinds, figure.shares):
        feature["properties"].update(_colour=colour, _kind=kind,
                                     _covered=None if share is None else covered_text(share))
        if kind == "nodata" and unknown:
            feature["properties"]["_unknown"] = True
    cameras = [] if types is not None else [
        c for r in figure.rows for c in report.cameras.get(r["insee"], [])]
    if types is None:
        types = {}
        for camera in cameras:
            kind = camera.surveillance_type or "unknown"
            types[kind] = types.get(kind, 0) + 1
    kinds = type_colours(list(types))
    markers = []
    for camera in cameras:
        feature = camera_feature(camera)
        feature["properties"] = {**camera.flat_properties(),
                                 "_colour": kinds[camera.surveillance_type or "unknown"]}
        markers.append(feature)
    title = f"Video surveillance mapped in OpenStreetMap: {shown_text(_area_name(report))}"
    floor = bool(figure.count("partial"))  # a total over a partly covered commune: a lower bound
    return {
        "title": title,
        "subtitle": f"{cameras_text(sum(types.values()), floor)}; data of {date_of(report)}",
        "credit": _credit_html(report.meta, credit),
        "units": units.capitalize() + f" ({scheme.replace('_', '-')} classes; number of communes)",
        "classes": legend_entries(figure),
        "partial": flat_label(PARTIAL_LABEL, figure.count("partial")),
        "noData": flat_label(no_data_label(figure.rows), figure.count("nodata") + outside),
        "dash": " ".join(map(str, PARTIAL_DASH)),
        "labelled": figure.count("partial") <= NAMED,  # "NN% covered" always shown, else on hover
        "types": [[colour, f"{shown_text(kind)} ({'≥' * floor}{types[kind]:,})"]
                  for kind, colour in kinds.items()],
        "typeColours": kinds,
        "communes": {"type": "FeatureCollection", "features": communes},
        "cameras": {"type": "FeatureCollection", "features": markers},
        "views": {"type": "FeatureCollection", "features": [view_feature(v) for v in views or []]},
        "tiles": tiles,
        "tilesName": tiles and re.sub(r"^https?://([^/]+).*", r"\1", tiles),
        "cluster": cluster,
    }


# Characters that JSON inside an HTML <script> element must not hold as they are: "<!--"
# then "<script" in a string would keep the element open to the end of the page, "</" close it;
# DEL or a C1 control character (json.dumps escapes the others) is a parse error in HTML.
# Each becomes its \uXXXX escape, found by a regular expression (str.translate goes
# character by character through a text that is not all Latin-1: 7 times slower).
_SCRIPT_UNSAFE = re.compile("[<>&\u2028\u2029\x7f-\x9f]")


def merged_polygons(shapes: Any) -> str:
    """The union of the outlines `shapes` (EPSG:4326, sharing their edges, as boundary files
    give them) as the GeoJSON coordinates of its polygons, joined by commas (parts of a
    MultiPolygon), at 1e-5°: two unions of neighbouring outlines meet without a gap."""
    import shapely

    try:
        area = shapely.coverage_union_all(shapes)  # far faster than union_all, on a coverage
    except shapely.errors.GEOSException:  # outlines that overlap, which GEOS may refuse
        area = None
    if area is None or not shapely.is_valid(area):  # overlaps or slivers: merged the long way
        area = shapely.union_all(shapes)
    area = shapely.orient_polygons(shapely.set_precision(area, 1e-5))
    return ",".join(json.dumps(shapely.geometry.mapping(part)["coordinates"])
                    for part in shapely.get_parts(area) if part.geom_type == "Polygon" and not part.is_empty)


def no_data_geometry(parts: list[str]) -> str:
    """The area of the communes without data as the GeoJSON text of a MultiPolygon of its
    `parts` (`merged_polygons`)."""
    return '{"type": "MultiPolygon", "coordinates": [' + ",".join(part for part in parts if part) + "]}"


def no_data_script(parts: list[str], communes: int) -> str:
    """The script that gives a map page (site-map.js's osmcamsNoData) the `communes` without
    data as one feature, drawn as one such commune is: `no_data_geometry` of the `parts`."""
    properties = json.dumps({"name": no_data_name(communes), "_kind": "nodata", "_colour": NO_DATA,
                             "_communes": communes})
    geometry = no_data_geometry(parts)
    feature = '{"type": "Feature", "geometry": ' + geometry + ', "properties": ' + properties + "}"
    return f"osmcamsNoData({feature});\n"


def script_json(value: Any) -> str:
    """`value` as JSON that can stand inside an HTML <script> element, whatever its strings
    hold (OSM tags are written by anyone): the same value for JavaScript."""
    return _SCRIPT_UNSAFE.sub(_escaped, json.dumps(value, ensure_ascii=False, allow_nan=False))


def _escaped(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def html_page(report: Report, **options: Any) -> str:
    """One HTML page with Leaflet inlined (`map_data` gives what it draws); no network needed."""
    data = map_data(report, **options)
    script = script_json(data)
    parts = {
        "title": html.escape(data["title"]),
        "css": "\n".join(static_text(n) for n in ("leaflet.css", "MarkerCluster.css",
                                                "MarkerCluster.Default.css")),
        "js": "\n".join(static_text(n) for n in ("leaflet.js", "leaflet.markercluster.js")),
        "data": script,
    }
    return re.sub(r"\{(title|css|js|data)\}", lambda m: parts[m.group(1)], static_text("map.html"))


def write_html(report: Report, target: Path, overwrite: bool = False, **options: Any) -> None:
    """`html_page` to `target`, atomically."""
    page = html_page(report, **options)
    with atomic_open(target, overwrite) as out:
        out.write(page)
