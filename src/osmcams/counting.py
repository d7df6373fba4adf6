"""From a request to a report: pick the sources, read them, count."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from osmcams.communes.model import Communes
from osmcams.communes.names import department_code
from osmcams.errors import UsageError
from osmcams.join import Report
from osmcams.models import Progress
from osmcams.settings import Settings

if TYPE_CHECKING:
    from osmcams.sources.osm.pbf import Boundary, Extract

log = logging.getLogger(__name__)

# How the command line names each part of a selection; the refresh configuration names them
# its own way (refresh/config.py).
FLAGS = {"communes": "--commune", "department": "--department", "every": "--all",
         "region": "--region CODE", "population_year": "--population-year"}


def check_selection(
    communes: tuple[str, ...], department: str | None, every: bool, region: str | None,
    population_year: str | None, spelling: dict[str, str] = FLAGS,
) -> None:
    """UsageError, in the words of `spelling`, for a selection that names nothing or conflicts."""
    if every and (communes or department or region):
        raise UsageError(f"{spelling['every']} excludes {spelling['communes']} and {spelling['department']} "
                         f"(and {spelling['region']})")
    if not (every or communes or department or region):
        raise UsageError(f"name a commune with {spelling['communes']}, a {spelling['department']}, "
                         f"or use {spelling['every']}")
    if population_year is not None and not re.fullmatch(r"(19|20)\d\d", population_year):
        raise UsageError(f"{spelling['population_year']} {population_year!r} is not a year such as 2021")


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

    def __post_init__(self) -> None:
        if self.department is not None:
            object.__setattr__(self, "department", department_code(self.department))
        check_selection(self.communes, self.department, self.every, self.region, self.population_year)

    @property
    def osm_boundaries(self) -> Path | None:
        """The OSM file given as --boundaries, whose admin relations are the communes."""
        osm = [path for path in self.boundaries if is_osm_file(path)]
        if osm and len(self.boundaries) > 1:
            raise UsageError(f"--boundaries {osm[0]} is an OSM file: give it alone")
        return osm[0] if osm else None

    @property
    def boundary_files(self) -> bool:
        """Whether the communes come from GIS files rather than from OSM relations."""
        return bool(self.boundaries) and self.osm_boundaries is None


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


def communes_for(
    request: Request, settings: Settings, relations: Iterable[Any] = (), source: str = "",
    progress: Progress | None = None,
) -> Communes:
    """The communes of a request: its boundary files with its population table; else the
    admin relations given (of an extract, another OSM file, a history file or the refresh
    store), named after `source`, with the population table when there is one."""
    from osmcams.communes.boundaries import load_communes
    from osmcams.communes.from_osm import communes_from_boundaries
    from osmcams.communes.population import apply_population

    if request.boundary_files:
        log.info("communes from %s, population from %s", ", ".join(map(str, request.boundaries)),
                 request.population or "none")
        return load_communes(
            request.boundaries, request.population, request.code_field, request.name_field,
            cache_dir=settings.cache_dir, refresh=settings.refresh, progress=progress,
            population_year=request.population_year,
        )
    log.info("communes from the admin_level=%d relations of %s", request.admin_level, source)
    communes = communes_from_boundaries(relations, source, request.admin_level)
    if request.population:
        apply_population(communes, request.population, request.population_year)
    return communes


def selected(request: Request, communes: Communes) -> list[str]:
    """The codes of the communes the request asks for."""
    from osmcams.communes.names import select

    return select(communes, request.communes, request.department, request.every, request.region)


def read_file(
    path: Path, admin_level: int | None, threads: int, progress: Progress | None = None
) -> tuple[Extract, list[Boundary]]:
    """Cameras and, with `admin_level`, admin boundaries of an OSM file: of a history file
    (several versions of each object), as they are at its data date."""
    from osmcams.sources.osm.osh import is_history, read_boundaries, snapshot
    from osmcams.sources.osm.pbf import scan_file

    if not is_history(path):
        return scan_file(path, admin_level, threads, progress)
    found = [] if admin_level is None else read_boundaries(path, admin_level, threads, progress)
    return snapshot(path, threads, progress), found


def count_from_pbf(
    request: Request, settings: Settings, progress: Progress | None = None
) -> Report:
    """Count cameras of an OSM file in communes from files or from the file itself."""
    from osmcams.join import count

    if request.pbf is None:
        raise UsageError("--pbf is required")
    pbf, osm = request.pbf, request.osm_boundaries
    if request.boundary_files:
        extract, communes = while_loading(
            lambda: communes_for(request, settings, progress=progress),
            lambda tick: read_file(pbf, None, settings.threads, tick)[0], progress,
        )
    else:
        # Admin relations of the extract itself, or of another OSM file given as --boundaries.
        extract, found = read_file(pbf, None if osm else request.admin_level, settings.threads, progress)
        if osm:
            _, found = read_file(osm, request.admin_level, settings.threads, progress)
        communes = communes_for(request, settings, found, os.path.basename(osm or pbf), progress)
    return count(extract, communes, selected(request, communes), rank=request.every or not request.communes)
