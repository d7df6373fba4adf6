"""Parsed boundaries kept on disk with their geodesic areas, and parsed population tables,
keyed by the files read."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import zipfile
from pathlib import Path

from osmcams.communes.model import COLUMNS, Communes, Population, Unusable, commune_frame

CACHE_FORMAT = 3  # 3: codes of 4 digits get back their leading zero; features without a code
POPULATION_FORMAT = 3  # 2: the codes merged into each commune; 3: the year of a PMUN2021 column


def cache_path(
    cache_dir: Path, files: list[Path], code_field: str | None, name_field: str | None
) -> Path:
    stamps = [(str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    key = json.dumps([CACHE_FORMAT, stamps, code_field, name_field])
    return cache_dir / "boundaries" / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.npz"


def write_cache(communes: Communes, path: Path) -> None:
    """Boundaries, codes and geodesic areas as plain arrays (WKB for the shapes), and the notes."""
    import numpy
    import shapely

    from osmcams.files import atomic_path
    from osmcams.geo.areas import areas_km2

    frame = communes.frame
    frame["area_km2"] = areas_km2(frame.geometry.values)
    shapes = shapely.to_wkb(frame.geometry.values)
    notes = {
        "warnings": communes.warnings,
        "notes": communes.notes,
        "unusable": [dataclasses.astuple(u) for u in communes.unusable],
        "repairs": communes.repairs,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, overwrite=True) as temp:
        numpy.savez(
            temp,
            insee=frame["insee"].to_numpy(str),
            name=frame["name"].to_numpy(str),
            department=frame["department"].fillna("").to_numpy(str),
            area_km2=frame["area_km2"].to_numpy(float),
            sizes=numpy.fromiter((len(b) for b in shapes), numpy.int64, len(shapes)),
            shapes=numpy.frombuffer(b"".join(shapes), numpy.uint8),
            notes=numpy.array(json.dumps(notes)),
        )


def read_cache(path: Path, source: str) -> Communes | None:
    """The communes `write_cache` stored, or None when there is none or it is unreadable."""
    import numpy
    import shapely

    try:
        with numpy.load(path, allow_pickle=False) as data:
            ends = numpy.cumsum(data["sizes"])
            blob = data["shapes"].tobytes()
            shapes = shapely.from_wkb(
                [blob[end - size : end] for end, size in zip(ends.tolist(), data["sizes"].tolist())]
            )
            frame = commune_frame(
                data["insee"].tolist(), data["name"].tolist(),
                [d or None for d in data["department"].tolist()],  # written as "" (numpy has no None)
                [None] * len(shapes), shapes, area_km2=data["area_km2"],
            )
            notes = json.loads(str(data["notes"]))
            unusable = [Unusable(*u) for u in notes["unusable"]]
    except (OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile,
            shapely.errors.GEOSException):  # an empty file is an EOFError
        return None
    return Communes(
        frame[[*COLUMNS, "area_km2"]], source, warnings=notes["warnings"], notes=notes["notes"],
        unusable=unusable, repairs=notes["repairs"],
    )


def population_path(cache_dir: Path, table: Path, year: str | None) -> Path:
    """Where the parse of the population `table` (with the `year` asked) is kept."""
    stat = table.stat()
    key = json.dumps([POPULATION_FORMAT, str(table.resolve()), stat.st_size, stat.st_mtime_ns, year])
    return cache_dir / "population" / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"


def write_population(population: Population, path: Path) -> None:
    """Keep a parsed population table at `path` (`population_path`)."""
    import orjson

    from osmcams.files import atomic_path

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, overwrite=True) as temp:
        temp.write_bytes(orjson.dumps(population))  # a dataclass, as orjson writes it: no deep copy


def read_population(path: Path) -> Population | None:
    """The population table `write_population` kept, or None when there is none or it is
    unreadable."""
    import orjson

    try:
        data = orjson.loads(path.read_bytes())
        values, source, year, names = data["values"], data["source"], data["year"], data["names"]
        merged = data["merged"]
        valid = (all(type(v) is int for v in values.values()) and all(type(v) is str for v in names.values())
                 and all(type(c) is str for codes in merged.values() for c in codes)
                 and isinstance(source, str) and (year is None or isinstance(year, str)))
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        return None
    return Population(values, source, year, names, merged) if valid else None
