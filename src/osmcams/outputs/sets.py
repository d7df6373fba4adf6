"""The published set of a refresh, written and replaced all or nothing.

- ``communes.csv`` and ``communes.json``: the density table, as ``count`` writes them;
- ``cameras.geojson``: every camera of the selected communes, with its ``insee``;
- ``communes/<insee>-<slug>.geojson``: one file per commune, as ``export --output-dir``.
"""

from __future__ import annotations

from pathlib import Path

from osmcams.join import Report
from osmcams.outputs.writers import camera_feature, commune_file, write_geojson, write_report

COMMUNES_DIR = "communes"


def set_names(report: Report) -> dict[str, str]:
    """Label -> path relative to the output directory, for every file of the set."""
    names = {"table": "communes.csv", "json": "communes.json", "cameras": "cameras.geojson"}
    for row in report.rows:
        names[row["insee"]] = f"{COMMUNES_DIR}/{commune_file(row['insee'], row['name'], 'geojson')}"
    return names


def write_set(report: Report, directory: Path, dirty: set[str] | None = None) -> None:
    """Publish the set of `report` in `directory`; commune files no longer in it go.

    With `dirty`, the files of other communes are rewritten only when missing: the
    caller knows that their cameras did not change.
    """
    from osmcams.files import publish

    names = set_names(report)
    kept = set(names.values())
    if dirty is not None:
        names = {label: name for label, name in names.items()
                 if label in dirty or label in ("table", "json", "cameras")
                 or not (directory / name).is_file()}
    folder = directory / COMMUNES_DIR
    stale = [
        f"{COMMUNES_DIR}/{p.name}" for p in (folder.glob("*.geojson") if folder.is_dir() else [])
        if f"{COMMUNES_DIR}/{p.name}" not in kept
    ]
    with publish(directory, names, overwrite=True, remove=stale) as paths:
        for label, fmt in (("table", "csv"), ("json", "json")):
            with open(paths[label], "w", encoding="utf-8", newline="") as out:
                write_report(report, fmt, out)
        features = []
        for row in report.rows:
            commune = [camera_feature(c, row["insee"], row["name"]) for c in report.cameras[row["insee"]]]
            if row["insee"] in paths:
                with open(paths[row["insee"]], "w", encoding="utf-8") as out:
                    write_geojson(commune, out)
            features += commune
        with open(paths["cameras"], "w", encoding="utf-8") as out:
            write_geojson(features, out)
