"""From a request to a report: pick the sources, read them, count."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from osmcams.communes import NOTHING_SELECTED
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
    admin_level: int = 8
    code_field: str | None = None
    name_field: str | None = None
    region: str | None = None  # a COG region code: its communes only

    def __post_init__(self) -> None:
        if self.every and (self.communes or self.department or self.region):
            raise UsageError("--all excludes --commune and --department (and --region CODE)")
        if not (self.every or self.communes or self.department or self.region):
            raise UsageError(NOTHING_SELECTED)


def count_from_pbf(
    request: Request, settings: Settings, progress: Progress | None = None
) -> Report:
    """Count cameras of an OSM file in communes from files or from the file itself."""
    from osmcams.communes import apply_population, communes_from_boundaries, load_communes, select
    from osmcams.join import count
    from osmcams.sources.pbf import scan_file

    if request.pbf is None:
        raise UsageError("--pbf is required")
    if request.boundaries:
        communes = load_communes(
            request.boundaries, request.population, request.code_field, request.name_field,
            cache_dir=settings.cache_dir, refresh=settings.refresh, progress=progress,
        )
        extract, _ = scan_file(request.pbf, None, settings.threads, progress)
    else:
        extract, found = scan_file(request.pbf, request.admin_level, settings.threads, progress)
        communes = communes_from_boundaries(
            found, os.path.basename(request.pbf), request.admin_level
        )
        if request.population:
            apply_population(communes, request.population)
    codes = select(communes, request.communes, request.department, request.every, request.region)
    return count(extract, communes, codes, rank=request.every or not request.communes)
