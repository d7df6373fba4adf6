"""From a request to a report: pick the sources, read them, count."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
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
         "region": "--region CODE", "population_year": "--population-year", "population": "--population"}


def check_selection(
    communes: tuple[str, ...], department: str | None, every: bool, region: str | None,
    population_year: str | None, spelling: dict[str, str] = FLAGS, population: Path | None = None,
) -> None:
    """UsageError, in the words of `spelling`, for a selection that names nothing or conflicts,
    or a census year without the `population` table it dates."""
    if every and (communes or department or region):
        raise UsageError(f"{spelling['every']} excludes {spelling['communes']} and {spelling['department']} "
                         f"(and {spelling['region']})")
    if not (every or communes or department or region):
        raise UsageError(f"name a commune with {spelling['communes']}, a {spelling['department']}, "
                         f"or use {spelling['every']}")
    if population_year is not None and not re.fullmatch(r"(19|20)\d\d", population_year):
        raise UsageError(f"{spelling['population_year']} {population_year!r} is not a year such as 2021")
    if population_year is not None and population is None:
        raise UsageError(f"{spelling['population_year']} dates the table of {spelling['population']}, "
                         f"not given: leave it out (the shipped table states its year) or give "
                         f"{spelling['population']}")


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
        check_selection(self.communes, self.department, self.every, self.region, self.population_year,
                        population=self.population)

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


DEMO_DIR = "data/demo"
DEMO_PBF = "monaco-2025-02-07.osm.pbf"  # openstreetmap.fr's Monaco extract, ODbL
DEMO_BOUNDARIES = "communes-ign-2018.geojson"  # the 5 French communes it reaches, IGN, Licence Ouverte


def demo_data() -> tuple[Path, Path]:
    """The extract and the commune boundaries that ship with osmcams (see data/demo/README.md)."""
    from importlib.resources import files

    folder = Path(str(files("osmcams").joinpath(DEMO_DIR)))
    return folder / DEMO_PBF, folder / DEMO_BOUNDARIES


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


COMMUNE_LEVEL = 8


def official_communes(
    relations: Communes, request: Request, settings: Settings, progress: Progress | None = None
) -> Communes:
    """The official outlines (geo.api.gouv.fr, kept per department) of the departments that
    the extract's relations and the selection name, in place of the extract's relations.

    Departments not kept yet are fetched once, unless offline. When one cannot be had, the
    relations stay, and a warning says so and how to keep the outlines ahead of time.
    """
    from datetime import datetime, timezone

    from osmcams.communes.boundaries import load_communes
    from osmcams.communes.model import department_of
    from osmcams.communes.names import french_commune, region_departments
    from osmcams.errors import CommuneNotFound, DataError, NetworkError
    from osmcams.settings import public_url
    from osmcams.sources import geoapi
    from osmcams.sources.http import Http

    named = [*relations.frame["insee"].tolist(), *(u.code for u in relations.unusable)]
    departments = {d for d in map(department_of, named) if d}
    if departments:  # French communes: those named too, so that one outside the data is said to be
        asked = (french_commune(query, request.department) for query in request.communes)
        departments.update(filter(None, (department_of(found[0]) for found in asked if found)))
    departments.update(filter(None, [request.department]))
    departments.update((region_departments(request.region) or []) if request.region else [])
    if not departments:  # not French communes: the extract's relations are all there is
        return relations
    wanted = sorted(departments)
    files = [geoapi.department_file(settings.cache_dir, d) for d in wanted]
    missing = [d for d, path in zip(wanted, files) if not path.is_file()]
    reason = "offline"
    if missing and not settings.offline:
        http = Http(settings, getattr(progress, "status", None))  # a wait shows on the terminal
        try:
            for done, department in enumerate(list(missing), 1):
                geoapi.keep_department(http, department)
                missing.remove(department)
                if progress:
                    progress("Official communes", done, done + len(missing))
        except (NetworkError, CommuneNotFound, DataError) as e:
            reason = str(e)
    if missing:
        why = (
            f"the official communes of department {', '.join(missing)} are not kept and cannot be "
            f"fetched from {public_url(settings.geo_api_url)} ({reason})"
        )
        keep = (f"'osmcams download communes {' '.join(f'--department {d}' for d in missing)}' "
                "keeps them for offline runs")
        relations.warnings.insert(0, f"{why}: the extract's own admin_level={COMMUNE_LEVEL} "
                                     f"relations are used instead; {keep}")
        relations.unusable = [replace(u, reason=f"{u.reason}; {why}, and {keep}")
                              for u in relations.unusable]
        relations.stand_in = f"{why}; {keep}"
        return relations
    communes = load_communes(files, cache_dir=settings.cache_dir, refresh=settings.refresh)
    fetched = min(datetime.fromtimestamp(p.stat().st_mtime, timezone.utc) for p in files)
    communes.source = (
        f"geo.api.gouv.fr contours of department {', '.join(wanted)}, "
        f"kept since {fetched:%Y-%m-%d}"
    )
    return communes


def communes_for(
    request: Request, settings: Settings, relations: Iterable[Any] = (), source: str = "",
    progress: Progress | None = None, official_outlines: bool = False,
) -> Communes:
    """The communes of a request: its boundary files; else the admin relations given (of an
    extract, another OSM file, a history file or the refresh store), named after `source`,
    or with `official_outlines` the official ones of their departments (`official_communes`).
    The population is the request's table, else the shipped COG's for French communes."""
    from osmcams.communes.boundaries import load_communes
    from osmcams.communes.from_osm import communes_from_boundaries
    from osmcams.communes.population import apply_official_population, apply_population

    if request.boundary_files:
        log.info("communes from %s, population from %s", ", ".join(map(str, request.boundaries)),
                 request.population or "the COG")
        communes = load_communes(
            request.boundaries, request.population, request.code_field, request.name_field,
            cache_dir=settings.cache_dir, refresh=settings.refresh, progress=progress,
            population_year=request.population_year,
        )
    else:
        log.info("communes from the admin_level=%d relations of %s", request.admin_level, source)
        communes = communes_from_boundaries(relations, source, request.admin_level)
        if official_outlines and request.admin_level == COMMUNE_LEVEL:
            communes = official_communes(communes, request, settings, progress)
        if request.population:
            apply_population(communes, request.population, request.population_year, settings.cache_dir,
                             settings.refresh)
    if request.population is None:  # French communes: the official population, not OSM's tags
        apply_official_population(communes, settings.cache_dir, settings.refresh)
    return communes


def selected(request: Request, communes: Communes) -> list[str]:
    """The codes of the communes the request asks for; when none is found among an
    extract's relations standing in for the official communes, the error says why they do
    (geo.api.gouv.fr could not be reached)."""
    from osmcams.communes.names import select
    from osmcams.errors import CommuneNotFound

    try:
        return select(communes, request.communes, request.department, request.every, request.region)
    except CommuneNotFound as e:
        if communes.stand_in is None or communes.stand_in in str(e):
            raise
        raise CommuneNotFound(f"{e}; {communes.stand_in}") from None


def read_file(
    path: Path, admin_level: int | None, threads: int, progress: Progress | None = None,
    extent: Path | None = None,
) -> tuple[Extract, list[Boundary]]:
    """Cameras and, with `admin_level`, admin boundaries of an OSM file: of a history file
    (several versions of each object), as they are at its data date. `extent`: the polygon
    the file was cut with, when it is not `NAME.poly` beside it."""
    from osmcams.sources.extent import extent_of
    from osmcams.sources.osm.osh import is_history, read_boundaries, snapshot
    from osmcams.sources.osm.pbf import scan_file

    if not is_history(path):
        return scan_file(path, admin_level, threads, progress, extent)
    found = [] if admin_level is None else read_boundaries(path, admin_level, threads, progress)
    extract = snapshot(path, threads, progress)
    extract.extent, extract.extent_source = extent_of(path, extent)  # as a snapshot's, NAME.poly too
    extract.warnings.insert(0, f"{path.name} is a full-history file: counted as it is at its data "
                               "date, the latest version of each object (deleted ones left out)")
    return extract, found


@contextmanager
def parsed_beside(request: Request, settings: Settings) -> Iterator[Callable[[], None]]:
    """A wait for a process forked now that parses the request's boundary files and
    population into the cache, when the cache lacks them (on Linux, with several cores and
    no other thread): the thread that loads the communes beside the PBF's reading then
    reads the cache. Parsed in that thread, France's 35,357 communes took 3.2 s of CPU, not
    1.6 s, sharing the interpreter with the reading. Its failure is not raised: the thread
    parses them again, and says why. Else a wait that does nothing."""
    import threading

    from osmcams.communes.boundaries import cached
    from osmcams.forks import beside, forking

    if (not request.boundary_files or settings.cache_dir is None or settings.refresh or not forking()
            or threading.active_count() > 1
            or cached(request.boundaries, request.code_field, request.name_field, settings.cache_dir)):
        yield lambda: None
        return

    def parse() -> None:
        logging.disable(logging.CRITICAL)  # the parent's handlers stay its own
        communes_for(request, settings)

    with beside(parse) as wait:
        def waited() -> None:
            try:
                wait()
                log.info("the communes were parsed into the cache by a process beside the reading")
            except Exception as e:  # the thread parses them again, and says why
                log.info("the process parsing the communes failed: %s", e)

        yield waited


def count_from_pbf(
    request: Request, settings: Settings, progress: Progress | None = None
) -> Report:
    """Count cameras of an OSM file in communes from files or from the file itself."""
    from osmcams.join import count

    if request.pbf is None:
        raise UsageError("--pbf is required")
    pbf, osm = request.pbf, request.osm_boundaries
    if request.boundary_files:
        with parsed_beside(request, settings) as parsed:
            def load() -> Communes:
                parsed()
                return communes_for(request, settings, progress=progress)

            extract, communes = while_loading(
                load, lambda tick: read_file(pbf, None, settings.threads, tick, request.extent)[0], progress)
    else:
        # Admin relations of the extract itself, or of another OSM file given as --boundaries.
        extract, found = read_file(pbf, None if osm else request.admin_level, settings.threads, progress,
                                   request.extent)
        if osm:
            _, found = read_file(osm, request.admin_level, settings.threads, progress)
        communes = communes_for(request, settings, found, os.path.basename(osm or pbf), progress,
                                official_outlines=osm is None)
    return count(extract, communes, selected(request, communes), rank=request.every or not request.communes)
