"""Measure video surveillance mapped in OpenStreetMap, per commune.

The library API, usable from a notebook::

    import osmcams
    extract = osmcams.read_cameras("monaco.osm.pbf")
    communes = osmcams.load_communes(["communes-06.geojson"], population="communes.json")
    report = osmcams.count(extract, communes, ["Beausoleil"])
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("osmcams")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"

_LAZY = {
    "read_cameras": "osmcams.pbf",
    "read_boundaries": "osmcams.pbf",
    "load_communes": "osmcams.communes",
    "select_communes": "osmcams.communes",
    "count": "osmcams.join",
    "Camera": "osmcams.models",
    "Settings": "osmcams.settings",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    """Import the heavy parts of the API only when they are used."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'osmcams' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
