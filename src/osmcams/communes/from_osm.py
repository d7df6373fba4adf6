"""Communes from the admin boundary relations of an OSM file."""

from __future__ import annotations

import re

from osmcams.communes.model import (
    COLUMNS,
    MAX_POPULATION,
    OSM_POPULATION,
    Communes,
    Unusable,
    commune_frame,
    department_of,
    one_row_per_code,
)
from osmcams.communes.population import year_in
from osmcams.errors import quoted


def _tag_population(tags: dict[str, str]) -> int | None:
    """The `population` tag as a number of at most MAX_POPULATION, else None ("²" and a
    number of 26 digits are digits to str.isdigit, not populations)."""
    raw = re.sub(r"[\s\u202f.,]", "", tags.get("population", ""))
    return int(raw) if re.fullmatch("[0-9]{1,12}", raw) and int(raw) <= MAX_POPULATION else None


def communes_from_boundaries(boundaries, source: str, admin_level: int) -> Communes:
    """Communes from admin boundary relations read from an OSM file.

    The population comes from the `population` tag; its source and year from
    `source:population` ("INSEE 2014") and `population:date`.
    """

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
        year = year_in(tags.get("population:date", "")) or year_in(tags.get("source:population", ""))
        if year and tags.get("population"):
            years.add(year)
    frame = commune_frame(*([row[key] for row in rows] for key in COLUMNS))
    frame = one_row_per_code(frame)
    cited = f" ({', '.join(sorted(sources))})" if sources else ""
    return Communes(
        frame,
        where,
        population_source=f"{OSM_POPULATION}{cited}",
        population_year="–".join(sorted({min(years), max(years)})) if years else None,
        warnings=notes,
        unusable=unusable,
        admin_level=admin_level,
    )

