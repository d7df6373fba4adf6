"""Measure video surveillance mapped in OpenStreetMap, per commune.

The library API, usable from a notebook::

    import osmcams
    extract = osmcams.read_cameras("monaco.osm.pbf")
    communes = osmcams.load_communes(["communes-06.geojson"], population="communes.json",
                                     population_year="2023")
    codes = osmcams.select_communes(communes, ["Beausoleil"])
    report = osmcams.count(extract, communes, codes)
"""

from __future__ import annotations

__version__ = "0.1.0"

# Public name -> (module, attribute), imported on first use.
_LAZY = {
    "read_cameras": ("osmcams.sources.osm.pbf", "read_cameras"),
    "scan_file": ("osmcams.sources.osm.pbf", "scan_file"),
    "load_communes": ("osmcams.communes.boundaries", "load_communes"),
    "communes_from_boundaries": ("osmcams.communes.from_osm", "communes_from_boundaries"),
    "select_communes": ("osmcams.communes.names", "select"),
    "count": ("osmcams.join", "count"),
    "Camera": ("osmcams.models", "Camera"),
    "Settings": ("osmcams.settings", "Settings"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    """Import the heavy parts of the API only when they are used."""
    if name not in _LAZY:
        raise AttributeError(f"module 'osmcams' has no attribute {name!r}")
    import importlib

    module, attribute = _LAZY[name]
    return getattr(importlib.import_module(module), attribute)
