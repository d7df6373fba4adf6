"""Commune boundaries from files (GeoJSON, GeoPackage, Shapefile, …), checked as they are read."""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from osmcams.communes.cache import cache_path, read_cache, write_cache
from osmcams.communes.geojson import read_plain_geojson
from osmcams.communes.model import (
    COLUMNS,
    Communes,
    Unusable,
    commune_frame,
    department_of,
    error_reason,
    one_row_per_code,
    short_list,
)
from osmcams.communes.population import apply_population
from osmcams.errors import DataError, OsmcamsError, UsageError, quoted
from osmcams.files import gdal_reads_in_place
from osmcams.models import Progress, listed

BOUNDARY_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".parquet", ".fgb", ".geojsonl")


# (code field, name field) pairs, tried in order.
KNOWN_FIELDS = (
    ("code", "nom"),
    ("INSEE_COM", "NOM"),
    ("INSEE_COM", "NOM_COM"),
    ("insee", "nom"),
    ("ref:INSEE", "name"),
    ("ref", "name"),
)


def boundary_files(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The boundary files named, or found in the directories named (one path alone, or several)."""
    files: list[Path] = []
    for raw in listed(paths):
        path = Path(raw)
        if path.is_dir():  # its files (a device or a FIFO named so is none)
            found = _files_in(path)
            if not found:
                raise DataError(f"{path}: no boundary files ({', '.join(BOUNDARY_SUFFIXES)}){_deeper(path)}")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        elif path.exists():
            raise DataError(f"{path}: not a file of boundaries (a device, a FIFO?)")
        else:
            raise DataError(f"{path}: no such file or directory")
    unique = {f.resolve(): f for f in files}  # a file named twice, or with its directory
    return list(unique.values())


def _files_in(folder: Path) -> list[Path]:
    """The boundary files of `folder`, not of its subfolders."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in BOUNDARY_SUFFIXES and p.is_file())


def _deeper(folder: Path, depth: int = 4, visits: int = 1000) -> str:
    """The subfolders of `folder` that hold boundary files (a few, nearest first, looked for
    `depth` levels down and in at most `visits` folders), said as what to give instead."""
    held: list[str] = []
    level = [folder]
    for _ in range(depth):
        below = []
        for parent in level:
            try:
                below += sorted(p for p in parent.iterdir() if p.is_dir() and not p.is_symlink())
            except OSError:  # unreadable: not there to suggest
                continue
        for sub in below[:visits]:
            with contextlib.suppress(OSError):
                count = len(_files_in(sub))
                if count:
                    held.append(f"{sub.relative_to(folder)} ({count:,} file{'s' * (count > 1)})")
        visits -= len(below)
        level = below
        if len(held) >= 3 or visits <= 0 or not level:
            break
    if not held:
        return ""
    return f"; its subfolders are not read: give one of them, {', '.join(held[:3])}"


def _pick_fields(columns: Sequence[str], code_field: str | None, name_field: str | None, where: Path):
    for flag, given in (("--code-field", code_field), ("--name-field", name_field)):
        if given is not None and given not in columns:
            raise DataError(f"{where}: no field {quoted(given)} ({flag}) among {short_list(columns)}")
    for code, name in KNOWN_FIELDS:
        if (code_field or code) in columns and (name_field or name) in columns:
            return code_field or code, name_field or name
    raise DataError(
        f"{where}: cannot find the code and name fields among {short_list(columns)}; "
        "name them with --code-field and --name-field"
    )


@dataclass
class Outlines:
    """Commune outlines as plain arrays: those of a file, or of a service's answer."""

    codes: list[str]
    names: list[str]
    geometries: Any  # numpy array of shapely (multi)polygons, in lon/lat


def _read_features(path: Path) -> tuple[dict[str, list[Any]], Any, Any]:
    """The attribute columns, the geometries (None where missing) and the CRS of a file."""
    import numpy

    if path.suffix.lower() == ".parquet":  # GeoParquet: pyarrow, GDAL often lacks it
        import geopandas

        frame = geopandas.read_parquet(path)
        geometry = frame.geometry.name
        columns = {c: frame[c].tolist() for c in frame.columns if c != geometry}
        return columns, numpy.asarray(frame.geometry.values, dtype=object), frame.crs
    plain = read_plain_geojson(path) if path.suffix.lower() in (".geojson", ".json") else None
    if plain is not None:
        return plain
    import pyogrio.raw
    import shapely

    gdal_reads_in_place()
    meta, _, wkb, fields = pyogrio.raw.read(path, datetime_as_string=True)
    columns = {c: values.tolist() for c, values in zip(meta["fields"].tolist(), fields)}
    if wkb is None:
        return columns, numpy.full(len(next(iter(fields), [])), None, dtype=object), meta["crs"]
    return columns, shapely.from_wkb(wkb), meta["crs"]


def _unreadable(path: Path, error: Exception) -> str:
    """Why GDAL could not read `path`, in words: a JSON list (a population table) is named
    as such."""
    with path.open("rb") as f:
        head = f.read(256).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"["):
        return "a JSON list, not GeoJSON (a population table goes to --population)"
    return error_reason(error)


def _read_boundary_file(
    path: Path, code_field: str | None, name_field: str | None
) -> tuple[Outlines, list[str], list[str], list[Unusable], dict[str, str]]:
    """The usable features of one file, the notes about the file, the warnings about the
    communes left out, those communes, the repairs."""
    if not path.stat().st_size:  # GDAL would say it knows no such format
        raise DataError(f"{path}: empty, not a file of boundaries")
    with warnings.catch_warnings(record=True) as caught:  # GDAL's remarks become our warnings
        warnings.simplefilter("always")
        try:
            columns, geometries, crs = _read_features(path)
        except Exception as e:  # the readers raise several unrelated types for bad files
            raise DataError(f"{path}: cannot read boundaries: {_unreadable(path, e)}") from e
    about = [f"{path.name}: {w.message}" for w in caught if issubclass(w.category, UserWarning)]
    if not len(geometries) or all(g is None for g in geometries):
        raise DataError(f"{path}: no features with a geometry")
    code, name = _pick_fields(list(columns), code_field, name_field, path)
    geometries = _to_wgs84(geometries, crs, path, about)
    codes = _codes(columns[code], path, about)
    names = [n if n is not None else c for n, c in zip(map(_text, columns[name]), codes)]
    notes = _departments(codes, path)
    features, unusable = _polygons_with_codes(codes, names, geometries, path, code, notes)
    return features, about, notes, unusable, check_outlines(features, str(path), path.name)


def _codes(values: Any, path: Path, notes: list[str]) -> list[str | None]:
    """The codes of a field as text. Codes stored as numbers lose the leading zero of the
    departments 01 to 09: a code of 4 digits gets it back, with a note."""
    codes, restored = [], []
    for value in values:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        code = _text(value)
        if code is not None and len(code) == 4 and code.isascii() and code.isdigit():
            restored.append(f"{code} → 0{code}")
            code = f"0{code}"
        codes.append(code)
    if restored:
        notes.append(f"{path.name}: {len(restored)} codes are numbers that lost their leading "
                     f"zero, restored: {short_list(restored)}")
    return codes


def _departments(codes: list[str | None], path: Path) -> list[str]:
    """The warning for a file whose codes are all French departments' (01, 2A, 974): the
    departments' outlines beside the communes', as IGN and others publish them, read as
    communes (a directory is read without its subdirectories)."""
    from osmcams.communes.names import every_department

    given = [c for c in codes if c is not None]
    if not given or not set(given) <= set(every_department()):
        return []
    return [f"{path.name}: its {len(given):,} codes are French departments' "
            f"({short_list(given, 3)}), not communes' (five characters, such as 06088): each "
            "is counted as one commune; give the files of the communes (a directory is read "
            "without its subdirectories)"]


def _text(value: Any) -> str | None:
    """A field value as text; None for a missing one (null, NaN, blank)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def _to_wgs84(geometries: Any, crs: Any, path: Path, notes: list[str]) -> Any:
    """`geometries` in EPSG:4326; a file without a CRS is taken as lon/lat only when it fits."""
    import shapely

    if crs is None:
        west, south, east, north = shapely.total_bounds(geometries)
        if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
            raise DataError(
                f"{path}: has no coordinate reference system (no .prj?) and its coordinates "
                f"are not longitudes and latitudes; add the CRS (a .prj beside a Shapefile)"
            )
        notes.append(f"{path.name} has no coordinate reference system: its coordinates are "
                     "taken as WGS84 longitudes and latitudes")
        return geometries
    if crs == "EPSG:4326":  # as GDAL names it: no need to build a pyproj CRS
        return geometries
    import geopandas

    shapes = geopandas.GeoSeries(geometries, crs=crs)
    return geometries if shapes.crs.equals("EPSG:4326") else shapes.to_crs("EPSG:4326").to_numpy()


def _polygons_with_codes(
    codes: list[str | None], names: list[str | None], geometries: Any, path: Path, code: str,
    notes: list[str],
) -> tuple[Outlines, list[Unusable]]:
    """The features with a code and a polygon; the others named in `notes` and `unusable`."""
    import numpy
    import shapely

    no_code = numpy.array([c is None for c in codes], dtype=bool)
    polygon = numpy.isin(shapely.get_type_id(geometries), (3, 6)) & ~shapely.is_empty(geometries)
    if no_code.any():
        named = [quoted(n) for n, missing in zip(names, no_code) if missing and n is not None]
        notes.append(
            f"{path.name}: {no_code.sum()} features without a {code!r} value left out"
            + (f": {short_list(named)}" if named else "")
        )
    unusable = [
        Unusable(codes[i], names[i] or codes[i] or "?", f"its feature in {path.name} has "
                 f"{'no geometry' if g is None else 'a ' + g.geom_type + ' geometry'}, not a polygon; "
                 "fix the file")
        for i, g in zip(numpy.flatnonzero(~polygon).tolist(), geometries[~polygon])
    ]
    if unusable:
        notes.append(
            f"{path.name}: {len(unusable)} features without a polygon left out: "
            + short_list([f"{quoted(u.name)} ({u.code})" for u in unusable])
        )
    unusable += [  # asked for by name, they are named as left out, not as unknown
        Unusable(None, n, f"its feature in {path.name} has no {code!r} value; fix the file, or "
                 "name the field of the codes with --code-field")
        for n, missing in zip(names, no_code) if missing and n is not None
    ]
    keep = numpy.flatnonzero(polygon & ~no_code)
    if not len(keep):
        raise DataError(f"{path}: no polygon among its features")
    kept = keep.tolist()
    return Outlines([codes[i] for i in kept], [names[i] for i in kept], geometries[keep]), unusable  # type: ignore[misc]


def check_outlines(features: Outlines, source: str, label: str) -> dict[str, str]:
    """The checks of every outline read, from a file or a service: a coordinate beyond
    longitude ±180 or latitude ±90 is a DataError naming `source` and the communes; an
    invalid outline is made valid in place. Per code, the warning (headed `label`) that
    says it was repaired."""
    from osmcams.geo.areas import NotNumbers, out_of_range, repair

    def named(positions: list[int]) -> str:
        return short_list([f"{quoted(features.names[i])} ({features.codes[i]})" for i in positions])

    beyond = out_of_range(features.geometries).nonzero()[0].tolist()
    if beyond:
        raise DataError(f"{source}: coordinates beyond longitude ±180 or latitude ±90 in the outline of "
                        f"{named(beyond)}")
    try:
        fixed, index, reasons, before, after = repair(features.geometries)
    except NotNumbers as e:
        raise DataError(f"{source}: coordinates that are not numbers (NaN or infinite) in the outline "
                        f"of {named(e.positions)}") from None
    features.geometries[index] = fixed
    return {
        features.codes[i]: (
            f"{label}: the outline of {quoted(features.names[i])} ({features.codes[i]}) is invalid "
            f"({reason}) and was repaired: {was:,.3f} km² as drawn, {now:,.3f} km² once valid"
        )
        for i, reason, was, now in zip(index.tolist(), reasons, before, after)
    }


def cached(
    paths: Iterable[str | os.PathLike[str]], code_field: str | None, name_field: str | None,
    cache_dir: str | os.PathLike[str],
) -> bool:
    """Whether `load_communes` would read the boundaries of `paths` from `cache_dir`; False
    when they cannot be listed (their reading says why)."""
    try:
        return cache_path(Path(cache_dir), boundary_files(paths), code_field, name_field).is_file()
    except (OSError, OsmcamsError):
        return False


def load_communes(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    population: str | os.PathLike[str] | None = None,
    code_field: str | None = None,
    name_field: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    refresh: bool = False,
    progress: Progress | None = None,
    population_year: str | None = None,
) -> Communes:
    """Communes from boundary files or directories (one path, or several), with population
    from a table.

    With `cache_dir`, the parsed boundaries and their geodesic areas are kept there,
    keyed by the files' paths, sizes and modification times, so that the next run
    reads them at once; `refresh` rebuilds them. `progress` is told of each file read.
    """
    files = boundary_files(paths)
    # Several files are named by their folder and the first of them: its name says what they
    # are (communes-06-alpes-maritimes.geojson: IGN's), for the credits, where the folder may not.
    source = (str(files[0]) if len(files) == 1
              else f"{files[0].parent} ({len(files)} files: {files[0].name}, …)")
    kept = cache_path(Path(cache_dir), files, code_field, name_field) if cache_dir else None
    communes = None if kept is None or refresh else read_cache(kept, source)
    if communes is None:
        communes = _read_boundaries(files, source, code_field, name_field, progress)
        if kept is not None:
            with contextlib.suppress(OSError, UsageError):  # no cache: slower, same counts
                write_cache(communes, kept)
    if population is None:
        return communes
    return apply_population(communes, population, population_year, cache_dir, refresh)


def _read_boundaries(
    files: list[Path],
    source: str,
    code_field: str | None,
    name_field: str | None,
    progress: Progress | None,
) -> Communes:
    import numpy

    parts, about, notes, unusable, repairs = [], [], [], [], {}
    for done, path in enumerate(files, 1):
        features, file_about, file_notes, file_unusable, file_repairs = _read_boundary_file(
            path, code_field, name_field)
        parts.append(features)
        about += file_about
        notes += file_notes
        unusable += file_unusable
        repairs.update(file_repairs)
        if progress:
            progress("Boundaries", done, len(files))
    codes = [code for part in parts for code in part.codes]
    frame = commune_frame(
        codes, [name for part in parts for name in part.names], [department_of(code) for code in codes],
        [None] * len(codes), numpy.concatenate([part.geometries for part in parts]),
    )
    twins = _overlapping_twins(frame)
    if twins:
        about.append(f"{len(twins)} codes name several features whose outlines overlap (two "
                     f"versions of a commune?), merged into one: {short_list(twins)}")
    return Communes(
        one_row_per_code(frame[COLUMNS]), source, warnings=notes, notes=about, unusable=unusable,
        repairs=repairs,
    )


def _overlapping_twins(frame: Any) -> list[str]:
    """The communes whose code names several features that overlap: not the parts of one
    commune (islands, enclaves), which `one_row_per_code` merges rightly."""
    import shapely

    found = []
    twins = frame[frame["insee"].duplicated(keep=False)]
    for code, group in twins.groupby("insee", sort=False):
        shapes = shapely.make_valid(group.geometry.values)
        areas = shapely.area(shapes)
        shared = areas.sum() - shapely.area(shapely.union_all(shapes))
        if len(set(shapely.to_wkb(shapes))) > 1 and shared > 0.01 * areas.min():
            found.append(f"{quoted(group['name'].iloc[0])} ({code})")
    return found

