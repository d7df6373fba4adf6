"""Output formats, and the file suffixes that name them (cheap to import, for the CLI)."""

from __future__ import annotations

from pathlib import Path

TABLE_FORMATS = ("table", "csv", "json", "markdown")
CAMERA_FORMATS = ("geojson", "geojsonseq", "gpkg", "parquet", "csv", "umap", "shp", "fgb", "kml")
# Written through GDAL (pyogrio) as one layer of points: the driver of each.
GDAL_DRIVERS = {"shp": "ESRI Shapefile", "fgb": "FlatGeobuf", "kml": "KML"}
TABLE_SUFFIXES = {".csv": "csv", ".json": "json", ".md": "markdown", ".txt": "table"}
# count also draws the communes as polygons with their rows (a choropleth layer).
COMMUNE_LAYERS = ("geojson", "gpkg")
COUNT_FORMATS = (*TABLE_FORMATS, *COMMUNE_LAYERS)
COUNT_SUFFIXES = {**TABLE_SUFFIXES, ".geojson": "geojson", ".gpkg": "gpkg"}
CAMERA_SUFFIXES = {
    ".geojson": "geojson", ".json": "geojson", ".geojsons": "geojsonseq",
    ".geojsonl": "geojsonseq", ".geojsonseq": "geojsonseq", ".gpkg": "gpkg",
    ".parquet": "parquet", ".csv": "csv", ".umap": "umap", ".shp": "shp", ".fgb": "fgb",
    ".kml": "kml",
}
# The suffix each camera format gets in --output-dir.
SUFFIX = {
    "geojson": ".geojson", "geojsonseq": ".geojsons", "gpkg": ".gpkg", "parquet": ".parquet",
    "csv": ".csv", "umap": ".umap", "shp": ".shp", "fgb": ".fgb", "kml": ".kml",
}


def format_for(output: Path | None, suffixes: dict[str, str], default: str) -> str:
    """The format that `output`'s suffix names, else `default`."""
    if output is None:
        return default
    return suffixes.get(output.suffix.lower(), default)


# Formats a suffix may name in place of one another (a GeoJSON file read as a sequence).
KIN = {"geojson": "geojson", "geojsonseq": "geojson"}


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
    if fmt and KIN.get(fmt, fmt) != KIN.get(named, named):
        raise UsageError(f"{output.name} names {named}, not --format {fmt}")  # type: ignore[union-attr]
    return fmt or named

# osmcams map: what the colours measure, how classes are broken, and the kind each suffix names.
MAP_MEASURES = ("per_km2", "per_10k")
MAP_SCHEMES = ("quantiles", "fisher_jenks")
MAP_SUFFIXES = {".png": "static", ".svg": "static", ".pdf": "static", ".html": "html"}
# timeline: the suffixes that draw a chart of the counts over time.
CHART_SUFFIXES = (".png", ".svg", ".html")
