"""Output formats, and the file suffixes that name them (cheap to import, for the CLI)."""

from __future__ import annotations

from pathlib import Path

TABLE_FORMATS = ("table", "csv", "json", "markdown")
CAMERA_FORMATS = ("geojson", "geojsonseq", "gpkg", "parquet", "csv", "umap")
TABLE_SUFFIXES = {".csv": "csv", ".json": "json", ".md": "markdown", ".txt": "table"}
CAMERA_SUFFIXES = {
    ".geojson": "geojson", ".json": "geojson", ".geojsons": "geojsonseq",
    ".geojsonl": "geojsonseq", ".geojsonseq": "geojsonseq", ".gpkg": "gpkg",
    ".parquet": "parquet", ".csv": "csv", ".umap": "umap",
}
# The suffix each camera format gets in --output-dir.
SUFFIX = {
    "geojson": ".geojson", "geojsonseq": ".geojsons", "gpkg": ".gpkg", "parquet": ".parquet",
    "csv": ".csv", "umap": ".umap",
}


def format_for(output: Path | None, suffixes: dict[str, str], default: str) -> str:
    """The format that `output`'s suffix names, else `default`."""
    if output is None:
        return default
    return suffixes.get(output.suffix.lower(), default)

# osmcams map: what the colours measure, how classes are broken, and the kind each suffix names.
MAP_MEASURES = ("per_km2", "per_10k")
MAP_SCHEMES = ("quantiles", "fisher_jenks")
MAP_SUFFIXES = {".png": "static", ".svg": "static", ".pdf": "static", ".html": "html"}
