"""From a request to a report: pick the sources, read them, count."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from osmcams.communes import NOTHING_SELECTED, Communes, department_code
from osmcams.errors import UsageError
from osmcams.join import Report
from osmcams.models import Progress
from osmcams.settings import Settings


@dataclass(frozen=True)
class Request:
    """What to count and where to read it."""

    communes: tuple[str, ...] = ()
    department: str | None = None
    every: bool = False
    pbf: Path | None = None
    boundaries: tuple[Path, ...] = ()
    population: Path | None = None
    population_year: str | None = None
    admin_level: int = 8
    code_field: str | None = None
    name_field: str | None = None
    region: str | None = None  # a COG region code: its communes only
    extent: Path | None = None  # the polygon the extract was cut with (sources.extent)

    def __post_init__(self) -> None:
        if self.department is not None:
            object.__setattr__(self, "department", department_code(self.department))
        if self.every and (self.communes or self.department or self.region):
            raise UsageError("--all excludes --commune and --department (and --region CODE)")
        if not (self.every or self.communes or self.department or self.region):
            raise UsageError(NOTHING_SELECTED)
        if self.population_year is not None and not re.fullmatch(r"(19|20)\d\d", self.population_year):
            raise UsageError(f"--population-year {self.population_year!r} is not a year such as 2021")


OSM_SUFFIXES = (".pbf", ".osm", ".opl", ".osm.bz2", ".osm.gz", ".o5m")


def is_osm_file(path: Path) -> bool:
    """Whether `path` names an OSM file (read for its admin relations) rather than a GIS file."""
    return path.name.lower().endswith(OSM_SUFFIXES)


class _LoadFailed(Exception):
    """Stops a reading whose load in the other thread failed."""


def while_loading(
    load: Callable[[], Any], read: Callable[[Progress], Any], progress: Progress | None
) -> tuple[Any, Any]:
    """`read(tick)`, with `load()` in a thread meanwhile (libosmium, GDAL and numpy release
    the GIL); both results. A failing load stops the reading at its next tick, and its own
    error is raised."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="osmcams-loading") as pool:
        loading = pool.submit(load)

        def tick(label: str, done: int, total: int | None) -> None:
            if loading.done() and loading.exception() is not None:
                raise _LoadFailed
            if progress:
                progress(label, done, total)

        try:
            result = read(tick)
        except _LoadFailed:
            loading.result()  # raises the load's own error
            raise
        return result, loading.result()


def count_from_pbf(
    request: Request, settings: Settings, progress: Progress | None = None
) -> Report:
    """Count cameras of an OSM file in communes from files or from the file itself."""
    from osmcams.communes import apply_population, communes_from_boundaries, load_communes, select
    from osmcams.join import count
    from osmcams.sources.pbf import scan_file

    if request.pbf is None:
        raise UsageError("--pbf is required")
    osm = [path for path in request.boundaries if is_osm_file(path)]
    if osm and len(request.boundaries) > 1:
        raise UsageError(f"--boundaries {osm[0]} is an OSM file: give it alone")
    if request.boundaries and not osm:
        def load() -> Communes:
            return load_communes(
                request.boundaries, request.population, request.code_field, request.name_field,
                cache_dir=settings.cache_dir, refresh=settings.refresh, progress=progress,
                population_year=request.population_year,
            )

        pbf = request.pbf
        extract, communes = while_loading(
            load, lambda tick: scan_file(pbf, None, settings.threads, tick, request.extent)[0],
            progress,
        )
    else:
        # Admin relations of the extract itself, or of another OSM file given as --boundaries.
        extract, found = scan_file(
            request.pbf, None if osm else request.admin_level, settings.threads, progress,
            request.extent,
        )
        if osm:
            _, found = scan_file(osm[0], request.admin_level, settings.threads, progress)
        communes = communes_from_boundaries(
            found, os.path.basename(osm[0] if osm else request.pbf), request.admin_level
        )
        if request.population:
            apply_population(communes, request.population, request.population_year)
    codes = select(communes, request.communes, request.department, request.every, request.region)
    return count(extract, communes, codes, rank=request.every or not request.communes)
