"""Output formats, and the file suffixes that name them (cheap to import, for the CLI)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# What a format can carry: the density rows as a table, the communes as polygons with their
# rows, the camera points, and beside the cameras the commune outlines and fields of view.
ROWS, COMMUNES, CAMERAS, OUTLINES, VIEWS = "rows", "communes", "cameras", "outlines", "views"


@dataclass(frozen=True)
class Format:
    """One output format: the suffixes that name it (the first is the one it writes in
    --output-dir), what it can carry, and how it is written (`writer`, a key of
    outputs.writers.CAMERA_WRITERS for cameras; `driver`, its GDAL driver if any)."""

    name: str
    suffixes: tuple[str, ...]
    carries: frozenset[str]
    writer: str = ""
    driver: str | None = None
    sequence_of: str | None = None  # a text sequence of that format's features
    one_file: bool = True  # False: several files beside one another (a Shapefile)

    @property
    def suffix(self) -> str:
        """The suffix it writes in --output-dir."""
        return self.suffixes[0]


_LAYER, _POINTS = frozenset({COMMUNES, CAMERAS, OUTLINES, VIEWS}), frozenset({CAMERAS})
# In the order of the --format choices; a table's suffix comes before another kind's.
REGISTRY = (
    Format("table", (".txt",), frozenset({ROWS})),
    Format("geojson", (".geojson", ".json"), _LAYER, "geojson"),
    Format("geojsonseq", (".geojsons", ".geojsonl", ".geojsonseq"), _POINTS | {OUTLINES, VIEWS},
           "geojson", sequence_of="geojson"),
    Format("gpkg", (".gpkg",), _LAYER, "gpkg", driver="GPKG"),
    Format("parquet", (".parquet",), _POINTS, "parquet"),
    Format("csv", (".csv",), frozenset({ROWS, CAMERAS}), "csv"),
    Format("json", (".json",), frozenset({ROWS})),
    Format("markdown", (".md", ".markdown"), frozenset({ROWS})),
    Format("umap", (".umap",), frozenset({CAMERAS, OUTLINES, VIEWS}), "umap"),
    Format("shp", (".shp",), _POINTS, "gdal", driver="ESRI Shapefile", one_file=False),
    Format("fgb", (".fgb",), _POINTS, "gdal", driver="FlatGeobuf"),
    Format("kml", (".kml",), _POINTS, "gdal", driver="KML"),
)
FORMATS = {f.name: f for f in REGISTRY}
# A text sequence in a file of this suffix is newline-delimited (one feature a line), as GDAL's
# GeoJSONSeq driver writes it; in the others it is RFC 8142's, each feature after an RS.
NEWLINE_DELIMITED = ".geojsonl"


def names(kind: str) -> tuple[str, ...]:
    """The formats that can carry `kind`, in registry order."""
    return tuple(f.name for f in REGISTRY if kind in f.carries)


def suffixes_for(*kinds: str) -> dict[str, str]:
    """Suffix -> format, for the formats carrying `kinds`; a suffix goes to the first kind's."""
    found: dict[str, str] = {}
    for kind in kinds:
        for f in REGISTRY:
            if kind in f.carries:
                for suffix in f.suffixes:
                    found.setdefault(suffix, f.name)
    return found


TABLE_FORMATS = names(ROWS)
CAMERA_FORMATS = names(CAMERAS)
# Written through GDAL (pyogrio) as one layer of points: the driver of each.
GDAL_DRIVERS = {f.name: f.driver for f in REGISTRY if f.writer == "gdal"}
TABLE_SUFFIXES = suffixes_for(ROWS)
# count also draws the communes as polygons with their rows (a choropleth layer).
COMMUNE_LAYERS = names(COMMUNES)
COUNT_FORMATS = (*TABLE_FORMATS, *COMMUNE_LAYERS)
COUNT_SUFFIXES = suffixes_for(ROWS, COMMUNES)
CAMERA_SUFFIXES = suffixes_for(CAMERAS)
# The suffix each camera format gets in --output-dir.
SUFFIX = {name: FORMATS[name].suffix for name in CAMERA_FORMATS}


def agreed_format(
    output: Path | None, fmt: str | None, suffixes: dict[str, str], default: str
) -> str:
    """`--format`, else what the output's suffix names, else `default`.

    A suffix that osmcams cannot write, or that names another format than `fmt`, is
    a usage error: a file's name must not lie about its content.
    """
    from osmcams.errors import UsageError

    suffix = output.suffix.lower() if output is not None else ""
    if not suffix:
        return fmt or default
    named = suffixes.get(suffix)
    if named is None:
        raise UsageError(
            f"osmcams cannot write {output.name}: give it one of the suffixes "  # type: ignore[union-attr]
            + ", ".join(sorted(suffixes))
        )
    if fmt and fmt != named:
        own = ", ".join(s for s, name in suffixes.items() if name == fmt)
        raise UsageError(f"{output.name} names {named}, not --format {fmt}"  # type: ignore[union-attr]
                         + (f" ({own})" if own else ""))
    return fmt or named

# osmcams map: what the colours measure, how classes are broken, and the kind each suffix names.
MAP_MEASURES = ("per_km2", "per_10k")
MAP_SCHEMES = ("quantiles", "fisher_jenks")
MAP_SUFFIXES = {".png": "static", ".svg": "static", ".pdf": "static", ".html": "html"}
# timeline: the suffixes that draw a chart of the counts over time.
CHART_SUFFIXES = (".png", ".svg", ".html")
