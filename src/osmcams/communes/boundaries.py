"""Commune boundaries (from files or an OSM extract), populations, and name lookup."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import difflib
import hashlib
import json
import math
import os
import re
import unicodedata
import warnings
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from osmcams.communes.geojson import read_plain_geojson
from osmcams.errors import AmbiguousCommune, CommuneNotFound, DataError, UsageError, quoted
from osmcams.models import Progress, gc_paused

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
COLUMNS = ["insee", "name", "department", "population", "geometry"]
CACHE_FORMAT = 2
NOTHING_SELECTED = "name a commune with --commune, a --department, or use --all"


@dataclass(frozen=True)
class Unusable:
    """A commune that the source names but gives no usable outline for, and why."""

    code: str | None
    name: str
    reason: str  # a whole clause: "its boundary is incomplete in …"


@dataclass
class Communes:
    """Boundaries with population, and where each came from."""

    frame: Any  # GeoDataFrame with COLUMNS, in EPSG:4326
    source: str
    population_source: str | None = None
    population_year: str | None = None
    # About communes left out: shown with rankings.
    warnings: list[str] = field(default_factory=list)
    unusable: list[Unusable] = field(default_factory=list)
    # Per code, about an outline that had to be repaired: shown wherever the commune is counted.
    repairs: dict[str, str] = field(default_factory=dict)


MAX_POPULATION = 100_000_000


@dataclass(frozen=True)
class Population:
    """Population per commune code, with its source and year, and the official names."""

    values: dict[str, int]
    source: str
    year: str | None
    names: dict[str, str] = field(default_factory=dict)


def department_of(code: str | None) -> str | None:
    """The department of a French INSEE commune code ("97411" -> "974")."""
    if not code or not re.fullmatch(r"[0-9][0-9AB][0-9]{3}", code):
        return None
    return code[:3] if code.startswith("97") else code[:2]


def region_departments(code: str) -> list[str] | None:
    """The departments of the COG region `code` ("93" -> 04, 05, 06, 13, 83, 84), or None."""
    from importlib.resources import files

    regions = json.loads(files("osmcams").joinpath("data/regions.json").read_text(encoding="utf-8"))
    return next((r["departments"] for r in regions if r["code"] == code), None)


def is_region_code(value: str | None) -> bool:
    """Whether `value` is written like a COG region code (two or three digits)."""
    return bool(value and re.fullmatch(r"[0-9]{2,3}", value.strip()))


def boundary_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The boundary files named, or found in the directories named."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in BOUNDARY_SUFFIXES)
            if not found:
                raise DataError(f"{path}: no boundary files ({', '.join(BOUNDARY_SUFFIXES)})")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise DataError(f"{path}: no such file or directory")
    unique = {f.resolve(): f for f in files}  # a file named twice, or with its directory
    return list(unique.values())


def _one_row_per_code(frame: Any) -> Any:
    """Merge the features that share a code (a commune stored in several parts)."""
    if not frame["insee"].duplicated().any():
        return frame
    merged = frame.dissolve(by="insee", aggfunc="first", as_index=False, sort=False)
    return merged[frame.columns]


def _listing(names: Sequence[str], most: int = 10) -> str:
    """A short list of names for a one-line message."""
    shown = [name if len(name) <= 40 else name[:39] + "…" for name in names[:most]]
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return ", ".join(shown) + more


def _pick_fields(columns: Sequence[str], code_field: str | None, name_field: str | None, where: Path):
    for code, name in KNOWN_FIELDS:
        if (code_field or code) in columns and (name_field or name) in columns:
            return code_field or code, name_field or name
    raise DataError(
        f"{where}: cannot find the code and name fields among {_listing(columns)}; "
        "name them with --code-field and --name-field"
    )


@dataclass
class _Features:
    """The usable features of one boundary file, as plain arrays."""

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

    meta, _, wkb, fields = pyogrio.raw.read(path, datetime_as_string=True)
    columns = {c: values.tolist() for c, values in zip(meta["fields"].tolist(), fields)}
    if wkb is None:
        return columns, numpy.full(len(next(iter(fields), [])), None, dtype=object), meta["crs"]
    return columns, shapely.from_wkb(wkb), meta["crs"]


def _read_boundary_file(
    path: Path, code_field: str | None, name_field: str | None
) -> tuple[_Features, list[str], list[Unusable], dict[str, str]]:
    """The usable features of one file, the warnings, the communes left out, the repairs."""
    with warnings.catch_warnings(record=True) as caught:  # GDAL's remarks become our warnings
        warnings.simplefilter("always")
        try:
            columns, geometries, crs = _read_features(path)
        except Exception as e:  # the readers raise several unrelated types for bad files
            raise DataError(f"{path}: cannot read boundaries: {_reason(e)}") from e
    notes = [f"{path.name}: {w.message}" for w in caught if issubclass(w.category, UserWarning)]
    if not len(geometries) or all(g is None for g in geometries):
        raise DataError(f"{path}: no features with a geometry")
    code, name = _pick_fields(list(columns), code_field, name_field, path)
    geometries = _to_wgs84(geometries, crs, path, notes)
    codes = [_text(v) for v in columns[code]]
    names = [n if n is not None else c for n, c in zip(map(_text, columns[name]), codes)]
    features, unusable = _polygons_with_codes(codes, names, geometries, path, code, notes)
    _refuse_out_of_range(features, path)
    return features, notes, unusable, _repair(features, path)


def _reason(error: Exception) -> str:
    """An exception as words, without the raw "[Errno 2]" or the bytes of the file."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text if len(text) <= 160 else text[:159] + "…"


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
) -> tuple[_Features, list[Unusable]]:
    """The features with a code and a polygon; the others named in `notes` and `unusable`."""
    import numpy
    import shapely

    no_code = numpy.array([c is None for c in codes], dtype=bool)
    polygon = numpy.isin(shapely.get_type_id(geometries), (3, 6)) & ~shapely.is_empty(geometries)
    if no_code.any():
        named = [quoted(n) for n, missing in zip(names, no_code) if missing and n is not None]
        notes.append(
            f"{path.name}: {no_code.sum()} features without a {code!r} value left out"
            + (f": {_listing(named)}" if named else "")
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
            + _listing([f"{quoted(u.name)} ({u.code})" for u in unusable])
        )
    keep = numpy.flatnonzero(polygon & ~no_code)
    if not len(keep):
        raise DataError(f"{path}: no polygon among its features")
    kept = keep.tolist()
    return _Features([codes[i] for i in kept], [names[i] for i in kept], geometries[keep]), unusable  # type: ignore[misc]


def _refuse_out_of_range(features: _Features, path: Path) -> None:
    from osmcams.geo.areas import out_of_range

    beyond = out_of_range(features.geometries).nonzero()[0].tolist()
    if beyond:
        named = [f"{quoted(features.names[i])} ({features.codes[i]})" for i in beyond]
        raise DataError(
            f"{path}: coordinates beyond longitude ±180 or latitude ±90 in the outline of "
            f"{_listing(named)}"
        )


def _repair(features: _Features, path: Path) -> dict[str, str]:
    """Make invalid outlines valid in place; per code, the warning that says so."""
    from osmcams.geo.areas import repair

    fixed, index, reasons, before, after = repair(features.geometries)
    features.geometries[index] = fixed
    return {
        features.codes[i]: (
            f"{path.name}: the outline of {quoted(features.names[i])} ({features.codes[i]}) is invalid "
            f"({reason}) and was repaired: {was:,.3f} km² as drawn, {now:,.3f} km² once valid"
        )
        for i, reason, was, now in zip(index.tolist(), reasons, before, after)
    }


def _year_in(text: str) -> str | None:
    found = re.search(r"(?<!\d)(19|20)\d{2}(?!\d)", text)
    return found.group(0) if found else None


def _entry(
    raw_code: object, raw_value: object, where: Callable[[int], str], at: int
) -> tuple[str, int]:
    """A (code, population) row of a table, or DataError naming `where(at)` and the code.

    Only non-negative finite numbers pass. Text may group digits with spaces and use a
    decimal comma; decimals (INSEE's weighted estimates) are rounded.
    """
    usable = isinstance(raw_code, (str, int)) and not isinstance(raw_code, bool)
    code = str(raw_code).strip() if usable else ""
    if not code:
        raise DataError(f"{where(at)}: no commune code")
    if re.fullmatch(r"\d{4}", code):
        raise DataError(
            f"{where(at)}: code {code!r} lost its leading zero (0{code}?): "
            "a spreadsheet read it as a number; keep INSEE codes as text"
        )
    value: float | None = None
    if isinstance(raw_value, str):
        text = re.sub(r"[\s\u202f\u00a0]", "", raw_value).replace(",", ".")
        if re.fullmatch(r"\d{1,12}(\.\d+)?", text):
            value = float(text)
    elif isinstance(raw_value, (int, float)) and not isinstance(raw_value, bool):
        value = float(raw_value)
    if value is None or not 0 <= value <= MAX_POPULATION:  # NaN fails this test too
        raise DataError(
            f"{where(at)}, code {code}: population {raw_value!r} is not a non-negative whole number"
        )
    return code, round(value)


def read_population(path: str | os.PathLike[str], year: str | None = None) -> Population:
    """Population per commune from a COG JSON list or an INSEE CSV table.

    The year comes from the data where it says so (a `P21_POP` column), else from
    the file's name, else `year`, else it is unknown. Raises DataError naming the
    file, the line and the code of any value that is not a population.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a population table (not UTF-8 text)") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read population table: {_reason(e)}") from e
    if text.lstrip()[:1] in ("[", "{"):
        population = _population_json(path, text)
    else:
        population = _population_csv(path, text)
    if not population.values:
        raise DataError(f"{path}: no population in the table")
    found = population.year or _year_in(path.name) or year
    return dataclasses.replace(population, year=found)


@gc_paused()  # tens of thousands of records, made and dropped meanwhile
def _population_json(path: Path, text: str) -> Population:
    try:
        rows = json.loads(text)
    except ValueError as e:
        raise DataError(f"{path}: not valid JSON ({e})") from e
    if isinstance(rows, dict) and "features" in rows:
        raise DataError(
            f"{path}: a GeoJSON, not a population table; boundaries go to --boundaries, "
            "--population takes the COG communes.json or an INSEE CSV"
        )
    if not isinstance(rows, list):
        raise DataError(f"{path}: not a population table (a JSON list of communes)")
    values: dict[str, int] = {}
    names: dict[str, str] = {}
    lines: dict[str, int] = {}
    def where(index: int) -> str:  # the line is looked for only when there is an error
        return f"{path}, line {_json_line(text, index)}"

    for number, row in enumerate(rows):
        if not isinstance(row, dict):
            raise DataError(f"{where(number)}: not a commune record")
        if row.get("type", "commune-actuelle") != "commune-actuelle" or row.get("population") is None:
            continue
        code, value = _entry(row.get("code"), row["population"], where, number)
        _add(values, lines, code, value, number, where)
        if isinstance(row.get("nom"), str):
            names[code] = row["nom"]
    return Population(values, f"{path.name} (Etalab COG)", None, names)


def _json_line(text: str, index: int) -> int:
    """The line on which record `index` of the JSON list `text` starts."""
    decoder = json.JSONDecoder()
    pos = text.index("[") + 1
    for _ in range(index + 1):
        while text[pos] in " \t\r\n,":
            pos += 1
        start = pos
        _, pos = decoder.raw_decode(text, pos)
    return text.count("\n", 0, start) + 1


def _add(
    values: dict[str, int], lines: dict[str, int], code: str, value: int, line: int,
    where: Callable[[int], str],
) -> None:
    """Record one value; a code seen before must have the same value."""
    if code in values and values[code] != value:
        raise DataError(
            f"{where(line)}: code {code} appears twice with different populations "
            f"({values[code]} at {where(lines[code])}, {value} here)"
        )
    values[code] = value
    lines.setdefault(code, line)


def _population_csv(path: Path, text: str) -> Population:
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        raise DataError(f"{path}: not a population table (no columns separated by , ; or tab)") from None
    reader = csv.DictReader(text.splitlines(), dialect=dialect)
    columns = reader.fieldnames or []
    code = next((c for c in columns if c.upper() in ("CODGEO", "COM", "CODE", "INSEE", "DEPCOM")), None)
    pop = next(
        (c for c in columns if re.fullmatch(r"(PMUN|PTOT|POPULATION|P\d\d_POP)\d*", c.upper())), None
    )
    label = next((c for c in columns if c.upper() in ("LIBGEO", "NOM", "LIBELLE", "NCC")), None)
    if not code or not pop:
        raise DataError(
            f"{path}: no code and population columns among {_listing(columns)} "
            "(expected CODGEO or COM, and PMUN, PTOT or P21_POP)"
        )
    column_year = re.fullmatch(r"P(\d\d)_POP", pop.upper()) or re.fullmatch(r"PMUN(\d\d)", pop.upper())
    year = "20" + column_year.group(1) if column_year else None
    values: dict[str, int] = {}
    names: dict[str, str] = {}
    lines: dict[str, int] = {}

    def where(line: int) -> str:
        return f"{path}, line {line}"

    for row in reader:
        line = reader.line_num
        if not (row.get(pop) or "").strip():
            continue
        key, value = _entry(row.get(code), row[pop], where, line)
        _add(values, lines, key, value, line, where)
        if label and row.get(label):
            names[key] = row[label]
    return Population(values, f"{path.name} (INSEE)", year, names)


def load_communes(
    paths: Iterable[str | os.PathLike[str]],
    population: str | os.PathLike[str] | None = None,
    code_field: str | None = None,
    name_field: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    refresh: bool = False,
    progress: Progress | None = None,
    population_year: str | None = None,
) -> Communes:
    """Communes from boundary files or directories, with population from a table.

    With `cache_dir`, the parsed boundaries and their geodesic areas are kept there,
    keyed by the files' paths, sizes and modification times, so that the next run
    reads them at once; `refresh` rebuilds them. `progress` is told of each file read.
    """
    files = boundary_files(paths)
    source = str(files[0]) if len(files) == 1 else f"{files[0].parent} ({len(files)} files)"
    cached = _cache_path(Path(cache_dir), files, code_field, name_field) if cache_dir else None
    communes = None if cached is None or refresh else _read_cache(cached, source)
    if communes is None:
        communes = _read_boundaries(files, source, code_field, name_field, progress)
        if cached is not None:
            with contextlib.suppress(OSError, UsageError):  # no cache: slower, same counts
                _write_cache(communes, cached)
    return communes if population is None else apply_population(communes, population, population_year)


def _read_boundaries(
    files: list[Path],
    source: str,
    code_field: str | None,
    name_field: str | None,
    progress: Progress | None,
) -> Communes:
    import geopandas
    import numpy
    import pandas

    parts, notes, unusable, repairs = [], [], [], {}
    for done, path in enumerate(files, 1):
        features, file_notes, file_unusable, file_repairs = _read_boundary_file(path, code_field, name_field)
        parts.append(features)
        notes += file_notes
        unusable += file_unusable
        repairs.update(file_repairs)
        if progress:
            progress("Boundaries", done, len(files))
    codes = [code for part in parts for code in part.codes]
    frame = geopandas.GeoDataFrame(
        {
            "insee": codes,
            "name": [name for part in parts for name in part.names],
            "department": [department_of(code) for code in codes],
            "population": pandas.array([None] * len(codes), dtype="Int64"),
        },
        geometry=numpy.concatenate([part.geometries for part in parts]),
        crs="EPSG:4326",
    )
    return Communes(
        _one_row_per_code(frame[COLUMNS]), source, warnings=notes, unusable=unusable, repairs=repairs
    )


def _cache_path(
    cache_dir: Path, files: list[Path], code_field: str | None, name_field: str | None
) -> Path:
    stamps = [(str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    key = json.dumps([CACHE_FORMAT, stamps, code_field, name_field])
    return cache_dir / "boundaries" / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.npz"


def _write_cache(communes: Communes, path: Path) -> None:
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


def _read_cache(path: Path, source: str) -> Communes | None:
    """The communes `_write_cache` stored, or None when there is none or it is unreadable."""
    import geopandas
    import numpy
    import pandas
    import shapely

    try:
        with numpy.load(path, allow_pickle=False) as data:
            ends = numpy.cumsum(data["sizes"])
            blob = data["shapes"].tobytes()
            shapes = shapely.from_wkb(
                [blob[end - size : end] for end, size in zip(ends.tolist(), data["sizes"].tolist())]
            )
            frame = geopandas.GeoDataFrame(
                {
                    "insee": data["insee"].astype(object),
                    "name": data["name"].astype(object),
                    "department": pandas.Series(data["department"].astype(object)).replace("", None),
                    "population": pandas.array([None] * len(shapes), dtype="Int64"),
                    "area_km2": data["area_km2"],
                },
                geometry=shapes,
                crs="EPSG:4326",
            )
            notes = json.loads(str(data["notes"]))
            unusable = [Unusable(*u) for u in notes["unusable"]]
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, shapely.errors.GEOSException):
        return None
    return Communes(
        frame[[*COLUMNS, "area_km2"]], source, warnings=notes["warnings"], unusable=unusable,
        repairs=notes["repairs"],
    )


def _tag_population(tags: dict[str, str]) -> int | None:
    raw = re.sub(r"[\s\u202f.,]", "", tags.get("population", ""))
    return int(raw) if raw.isdigit() else None


def communes_from_boundaries(boundaries, source: str, admin_level: int) -> Communes:
    """Communes from admin boundary relations read from an OSM file.

    The population comes from the `population` tag; its source and year from
    `source:population` ("INSEE 2014") and `population:date`.
    """
    import geopandas

    rows, unusable, notes, years, sources = [], [], [], set(), set()
    where = f"{source} (admin_level={admin_level} relations)"
    for b in boundaries:
        tags = b.tags
        code = tags.get("ref:INSEE") or tags.get("ref") or f"r{b.relation_id}"
        name = tags.get("name", code)
        if b.geometry is None:
            unusable.append(Unusable(code, name, (
                f"its boundary is incomplete in {source} (relation {b.relation_id}: {b.problem}); "
                "use a complete extract or --boundaries"
            )))
            notes.append(
                f"boundary of {quoted(name)} ({code}, relation {b.relation_id}) is incomplete, "
                f"left out: {b.problem}"
            )
            continue
        rows.append({
            "insee": code,
            "name": name,
            "department": department_of(tags.get("ref:INSEE")),
            "population": _tag_population(tags),
            "geometry": b.geometry,
        })
        if tags.get("population") and tags.get("source:population"):
            sources.add(tags["source:population"])
        year = _year_in(tags.get("population:date", "")) or _year_in(tags.get("source:population", ""))
        if year and tags.get("population"):
            years.add(year)
    frame = geopandas.GeoDataFrame(rows, columns=COLUMNS, geometry="geometry", crs="EPSG:4326")
    frame["population"] = frame["population"].astype("Int64")
    frame = _one_row_per_code(frame)
    cited = f" ({', '.join(sorted(sources))})" if sources else ""
    return Communes(
        frame,
        where,
        population_source=f"OSM population tag{cited}",
        population_year="–".join(sorted({min(years), max(years)})) if years else None,
        warnings=notes,
        unusable=unusable,
    )


def apply_population(
    communes: Communes, path: str | os.PathLike[str], year: str | None = None
) -> Communes:
    """Replace the populations of `communes` with those of a table, and the names with its own.

    The table's names are the official ones (IGN's simplified files drop the articles:
    "Rochelle" for La Rochelle). Raises DataError when no code of the table matches.
    """
    import pandas

    population = read_population(path, year)
    frame = communes.frame
    codes = frame["insee"].tolist()
    if codes and not any(code in population.values for code in codes):
        sample = ", ".join(sorted(population.values)[:3])
        raise DataError(
            f"{path}: no code of the table matches a commune of {communes.source} "
            f"(the table has codes such as {sample})"
        )
    frame["population"] = pandas.array([population.values.get(code) for code in codes], dtype="Int64")
    if population.names:
        names = population.names
        frame["name"] = [names.get(code, name) for code, name in zip(codes, frame["name"].tolist())]
    communes.population_source = population.source
    communes.population_year = population.year
    return communes


LIGATURES = str.maketrans({"œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae"})
ARTICLE = re.compile(r"^(le|la|les|l) ")


def normalise(name: str) -> str:
    """Lower case, no accents, no ligatures, no punctuation: "Œuf-en-Ternois" -> "oeuf en ternois"."""
    text = unicodedata.normalize("NFKD", name.translate(LIGATURES))
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = re.sub(r"[\s\-'’`.]+", " ", text).strip()
    return re.sub(r"^(st|ste)\b", lambda m: "saint" if m.group(1) == "st" else "sainte", text)


def bare(name: str) -> str:
    """`normalise` without a leading article: "La Rochelle" and IGN's "Rochelle" -> "rochelle"."""
    return ARTICLE.sub("", normalise(name))


def department_code(text: str) -> str:
    """A department as INSEE writes it: "6" -> "06", "2a" -> "2A"."""
    text = text.strip().upper()
    return text.zfill(2) if text.isdigit() and len(text) == 1 else text


def match(
    query: str, candidates: Sequence[tuple[str, str, str | None]], department: str | None = None
) -> str:
    """The code of the one candidate (code, name, department) that `query` names.

    `query` is a code or a name, compared without case, accents or ligatures, and
    with or without its article (Le, La, Les, L'). Raises CommuneNotFound with the
    closest names, or AmbiguousCommune with the homonyms.
    """
    query = query.strip()
    if not query:
        raise UsageError("an empty commune name")
    department = department_code(department) if department else None
    pool = [c for c in candidates if department is None or c[2] == department]
    by_code = [c for c in pool if c[0] == query.upper()]
    if by_code:
        return by_code[0][0]
    where = f" in department {department}" if department else ""
    if re.fullmatch(r"\d{4}", query):
        padded = [c for c in pool if c[0] == "0" + query]
        if padded:
            raise CommuneNotFound(
                f"no commune {query!r}{where}: INSEE codes have 5 characters, and {query} looks "
                f"like 0{query} ({padded[0][1]}) without its leading zero, as a spreadsheet writes it"
            )
    wanted = normalise(query)
    found = [c for c in pool if normalise(c[1]) == wanted]
    if not found:
        found = [c for c in pool if bare(c[1]) == bare(query)]
    if len(found) == 1:
        return found[0][0]
    if len(found) > 1:
        listing = ", ".join(f"{n} ({code}, department {d or '?'})" for code, n, d in found)
        raise AmbiguousCommune(
            f"{quoted(query)} names {len(found)} communes{where}: {listing}; "
            "give the INSEE code or --department"
        )
    names = {normalise(c[1]): c for c in pool}
    close = difflib.get_close_matches(wanted, list(names), n=5, cutoff=0.75)
    hint = (
        "; did you mean " + ", ".join(f"{names[n][1]} ({names[n][0]})" for n in close) + "?"
        if close
        else ""
    )
    raise CommuneNotFound(f"no commune {quoted(query)}{where}{hint}")


def select(
    communes: Communes,
    queries: Sequence[str] = (),
    department: str | None = None,
    every: bool = False,
    region: str | None = None,
) -> list[str]:
    """Codes of the communes asked for: by name or code, a department, a region, or all."""
    frame = communes.frame
    department = department_code(department) if department else None
    if frame.empty:
        left_out = f" ({len(communes.unusable)} incomplete, left out)" if communes.unusable else ""
        raise DataError(f"no usable commune boundary in {communes.source}{left_out}")
    if every:
        return frame["insee"].tolist()  # type: ignore[no-any-return]
    if region is not None:
        frame = _region_frame(communes, region)
    if not queries:
        if department is None and region is None:
            raise UsageError(NOTHING_SELECTED)
        codes = list(frame["insee"] if department is None else
                     frame.loc[frame["department"] == department, "insee"])
        if not codes:
            raise CommuneNotFound(f"no commune of department {department} in {communes.source}")
        return codes
    candidates = list(zip(frame["insee"], frame["name"], frame["department"]))
    codes = []
    for query in queries:
        try:
            code = match(query, candidates, department)
        except CommuneNotFound:
            _refuse_unusable(communes, query, department)
            raise
        if code not in codes:
            codes.append(code)
    return codes


def _region_frame(communes: Communes, region: str) -> Any:
    """The communes of `communes` that lie in the departments of COG region `region`."""
    departments = region_departments(region.strip())
    if departments is None:
        raise CommuneNotFound(f"no region {region!r} in the COG (codes such as 11, 76, 93)")
    frame = communes.frame
    chosen = frame[frame["department"].isin(departments)]
    if chosen.empty:
        raise CommuneNotFound(f"no commune of region {region} in {communes.source}")
    return chosen


def _refuse_unusable(communes: Communes, query: str, department: str | None) -> None:
    """DataError for a commune the source names but has no usable outline for."""
    wanted = normalise(query)
    for u in communes.unusable:
        if department is not None and u.code and department_of(u.code) not in (None, department):
            continue
        if u.code == query.strip().upper() or normalise(u.name) == wanted:
            raise DataError(f"cannot count {quoted(u.name)} ({u.code}): {u.reason}")
