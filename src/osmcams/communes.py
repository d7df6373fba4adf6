"""Commune boundaries (from files or an OSM extract), populations, and name lookup."""

from __future__ import annotations

import contextlib
import csv
import difflib
import hashlib
import json
import os
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from osmcams.errors import AmbiguousCommune, CommuneNotFound, DataError, UsageError
from osmcams.models import Progress

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
CACHE_FORMAT = 1
NOTHING_SELECTED = "name a commune with --commune, a --department, or use --all"


@dataclass
class Communes:
    """Boundaries with population, and where each came from."""

    frame: Any  # GeoDataFrame with COLUMNS, in EPSG:4326
    source: str
    population_source: str | None = None
    population_year: str | None = None
    warnings: list[str] = field(default_factory=list)
    # Communes that exist in the source but have no usable boundary: name -> reason.
    unusable: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Population:
    """Population per commune code, with its source and year."""

    values: dict[str, int]
    source: str
    year: str | None


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


def _boundary_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
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


def _read_boundary_file(path: Path, code_field: str | None, name_field: str | None):
    import geopandas
    import pyogrio

    try:
        if path.suffix.lower() == ".parquet":  # GeoParquet: pyarrow, GDAL often lacks it
            frame = geopandas.read_parquet(path)
        else:
            frame = pyogrio.read_dataframe(path)
    except Exception as e:  # the readers raise several unrelated types for bad files
        raise DataError(f"{path}: cannot read boundaries: {e}") from e
    if frame.empty or frame.geometry.isna().all():
        raise DataError(f"{path}: no features with a geometry")
    code, name = _pick_fields(list(frame.columns), code_field, name_field, path)
    if frame.crs is not None and not frame.crs.equals("EPSG:4326"):
        frame = frame.to_crs("EPSG:4326")
    if frame.geometry.name != "geometry":
        frame = frame.rename_geometry("geometry")
    frame = frame.assign(insee=frame[code].astype(str), name=frame[name].astype(str))
    frame = frame[~frame.geometry.isna()]
    polygons = frame.geometry.geom_type.isin(["Polygon", "MultiPolygon"])
    if not polygons.any():
        raise DataError(f"{path}: no polygon among its features")
    return frame.loc[polygons, ["insee", "name", "geometry"]]


def read_population(path: str | os.PathLike[str]) -> Population:
    """Population per commune from a COG JSON list or an INSEE CSV table."""
    path = Path(path)
    year_match = re.search(r"(19|20)\d{2}", str(path))
    year = year_match.group(0) if year_match else None
    try:
        if path.suffix.lower() == ".json":
            rows = json.loads(path.read_text(encoding="utf-8"))
            values = {
                str(r["code"]): int(r["population"])
                for r in rows
                if r.get("type", "commune-actuelle") == "commune-actuelle"
                and r.get("population") is not None
            }
            return Population(values, f"{path.name} (Etalab COG)", year)
        return _read_population_csv(path, year)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, csv.Error) as e:
        raise DataError(f"{path}: cannot read population table: {e}") from e


def _read_population_csv(path: Path, year: str | None) -> Population:
    text = path.read_text(encoding="utf-8-sig")
    dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    reader = csv.DictReader(text.splitlines(), dialect=dialect)
    columns = reader.fieldnames or []
    code = next((c for c in columns if c.upper() in ("CODGEO", "COM", "CODE", "INSEE", "DEPCOM")), None)
    pop = next(
        (c for c in columns if re.fullmatch(r"(PMUN|PTOT|POPULATION|P\d\d_POP)\d*", c.upper())), None
    )
    if not code or not pop:
        raise ValueError(f"no code and population columns among {_listing(columns)}")
    column_year = re.fullmatch(r"P(\d\d)_POP", pop.upper()) or re.fullmatch(r"PMUN(\d\d)", pop.upper())
    if column_year:
        year = "20" + column_year.group(1)
    values = {}
    for row in reader:
        raw = (row.get(pop) or "").replace(" ", "").replace("\u202f", "")
        if raw:
            values[row[code]] = round(float(raw.replace(",", ".")))
    return Population(values, f"{path.name} (INSEE)", year)


def load_communes(
    paths: Iterable[str | os.PathLike[str]],
    population: str | os.PathLike[str] | None = None,
    code_field: str | None = None,
    name_field: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    refresh: bool = False,
    progress: Progress | None = None,
) -> Communes:
    """Communes from boundary files or directories, with population from a table.

    With `cache_dir`, the parsed boundaries and their geodesic areas are kept there,
    keyed by the files' paths, sizes and modification times, so that the next run
    reads them at once; `refresh` rebuilds them. `progress` is told of each file read.
    """
    files = _boundary_files(paths)
    source = str(files[0]) if len(files) == 1 else f"{files[0].parent} ({len(files)} files)"
    cached = _cache_path(Path(cache_dir), files, code_field, name_field) if cache_dir else None
    frame = None if cached is None or refresh else _read_cache(cached)
    if frame is None:
        frame = _read_boundaries(files, code_field, name_field, progress)
        if cached is not None:
            with contextlib.suppress(OSError, UsageError):  # no cache: slower, same counts
                _write_cache(frame, cached)
    communes = Communes(frame, source)
    return communes if population is None else apply_population(communes, population)


def _read_boundaries(
    files: list[Path],
    code_field: str | None,
    name_field: str | None,
    progress: Progress | None,
) -> Any:
    import geopandas
    import pandas

    frames = []
    for done, path in enumerate(files, 1):
        frames.append(_read_boundary_file(path, code_field, name_field))
        if progress:
            progress("Boundaries", done, len(files))
    frame = geopandas.GeoDataFrame(pandas.concat(frames, ignore_index=True), crs="EPSG:4326")
    frame["department"] = frame["insee"].map(department_of)
    frame["population"] = pandas.array([None] * len(frame), dtype="Int64")
    return _one_row_per_code(frame[COLUMNS])


def _cache_path(
    cache_dir: Path, files: list[Path], code_field: str | None, name_field: str | None
) -> Path:
    stamps = [(str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    key = json.dumps([CACHE_FORMAT, stamps, code_field, name_field])
    return cache_dir / "boundaries" / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.npz"


def _write_cache(frame: Any, path: Path) -> None:
    """Boundaries, codes and geodesic areas as plain arrays (WKB for the shapes)."""
    import numpy
    import shapely

    from osmcams.files import atomic_path
    from osmcams.geometry import areas_km2

    frame["area_km2"] = areas_km2(frame.geometry.values)
    shapes = shapely.to_wkb(frame.geometry.values)
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
        )


def _read_cache(path: Path) -> Any:
    """The frame `_write_cache` stored, or None when there is none or it is unreadable."""
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
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, shapely.errors.GEOSException):
        return None
    return frame[[*COLUMNS, "area_km2"]]


def _tag_population(tags: dict[str, str]) -> int | None:
    raw = re.sub(r"[\s\u202f.,]", "", tags.get("population", ""))
    return int(raw) if raw.isdigit() else None


def communes_from_boundaries(boundaries, source: str, admin_level: int) -> Communes:
    """Communes from admin boundary relations read from an OSM file."""
    import geopandas

    rows, unusable, years = [], {}, set()
    for b in boundaries:
        tags = b.tags
        code = tags.get("ref:INSEE") or tags.get("ref") or f"r{b.relation_id}"
        name = tags.get("name", code)
        if b.geometry is None:
            unusable[name] = f"relation {b.relation_id} ({code}): {b.problem}"
            continue
        rows.append({
            "insee": code,
            "name": name,
            "department": department_of(tags.get("ref:INSEE")),
            "population": _tag_population(tags),
            "geometry": b.geometry,
        })
        if tags.get("population:date"):
            years.add(tags["population:date"][:4])
    frame = geopandas.GeoDataFrame(rows, columns=COLUMNS, geometry="geometry", crs="EPSG:4326")
    frame["population"] = frame["population"].astype("Int64")
    frame = _one_row_per_code(frame)
    warnings = [
        f"boundary of {name} is incomplete, left out: {reason}"
        for name, reason in unusable.items()
    ]
    communes = Communes(
        frame,
        f"{source} (admin_level={admin_level} relations)",
        population_source="OSM population tag",
        population_year="–".join(sorted({min(years), max(years)})) if years else None,
        warnings=warnings,
        unusable=unusable,
    )
    return communes


def apply_population(communes: Communes, path: str | os.PathLike[str]) -> Communes:
    """Replace the populations of `communes` with those of a table."""
    population = read_population(path)
    frame = communes.frame
    frame["population"] = frame["insee"].map(population.values).astype("Int64")
    communes.population_source = population.source
    communes.population_year = population.year
    return communes


def normalise(name: str) -> str:
    """Lower case, no accents, no punctuation: "Saint-Étienne" -> "saint etienne"."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = re.sub(r"[\s\-'’`.]+", " ", text).strip()
    return re.sub(r"^(st|ste)\b", lambda m: "saint" if m.group(1) == "st" else "sainte", text)


def match(
    query: str, candidates: Sequence[tuple[str, str, str | None]], department: str | None = None
) -> str:
    """The code of the one candidate (code, name, department) that `query` names.

    `query` is a code or a name, compared without case or accents. Raises
    CommuneNotFound with the closest names, or AmbiguousCommune with the homonyms.
    """
    query = query.strip()
    if not query:
        raise UsageError("an empty commune name")
    pool = [c for c in candidates if department is None or c[2] == department]
    by_code = [c for c in pool if c[0] == query.upper()]
    if by_code:
        return by_code[0][0]
    wanted = normalise(query)
    found = [c for c in pool if normalise(c[1]) == wanted]
    where = f" in department {department}" if department else ""
    if len(found) == 1:
        return found[0][0]
    if len(found) > 1:
        listing = ", ".join(f"{n} ({code}, department {d or '?'})" for code, n, d in found)
        raise AmbiguousCommune(
            f"{query!r} names {len(found)} communes{where}: {listing}; "
            "give the INSEE code or --department"
        )
    names = {normalise(c[1]): c for c in pool}
    close = difflib.get_close_matches(wanted, list(names), n=5, cutoff=0.75)
    hint = (
        "; did you mean " + ", ".join(f"{names[n][1]} ({names[n][0]})" for n in close) + "?"
        if close
        else ""
    )
    raise CommuneNotFound(f"no commune {query!r}{where}{hint}")


def select(
    communes: Communes,
    queries: Sequence[str] = (),
    department: str | None = None,
    every: bool = False,
    region: str | None = None,
) -> list[str]:
    """Codes of the communes asked for: by name or code, a department, a region, or all."""
    frame = communes.frame
    if frame.empty:
        left_out = f" ({len(communes.unusable)} incomplete, left out)" if communes.unusable else ""
        raise DataError(f"no usable commune boundary in {communes.source}{left_out}")
    if every:
        return list(frame["insee"])
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
            _refuse_unusable(communes, query)
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


def _refuse_unusable(communes: Communes, query: str) -> None:
    wanted = normalise(query)
    for name, reason in communes.unusable.items():
        if normalise(name) == wanted or f"({query.strip()})" in reason:
            raise DataError(
                f"cannot count {name}: its boundary is incomplete in {communes.source}, {reason}; "
                "use a complete extract or --boundaries"
            )
