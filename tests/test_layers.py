"""The import layers the README promises, read from the source with ast."""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src" / "osmcams"
LAYERS = [
    ["cli"], ["online"], ["pipeline"], ["writers"], ["join"], ["overpass", "geoapi", "download"],
    ["pbf", "communes"], ["blocks", "geometry", "http"], ["files", "formats", "settings", "models"],
    ["errors"],
]
ONLY = {"click": {"cli"}, "rich": {"cli"}, "requests": {"http"}, "urllib3": {"http"},
        "requests_cache": {"http"}, "osmium": {"pbf"}}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_every_module_has_a_layer() -> None:
    modules = {p.stem for p in SOURCE.glob("*.py")} - {"__init__", "__main__"}
    assert modules == {m for layer in LAYERS for m in layer}


def test_modules_import_only_from_lower_layers() -> None:
    rank = {m: i for i, layer in enumerate(LAYERS) for m in layer}
    upward = [
        (module, target)
        for module in rank
        for target in (name.split(".")[1] for name in _imports(SOURCE / f"{module}.py")
                       if name.startswith("osmcams."))
        if target != module and rank[target] <= rank[module]
    ]
    assert upward == []


def test_third_party_libraries_stay_in_their_module() -> None:
    strays = [
        (path.stem, name)
        for path in SOURCE.glob("*.py")
        for name in _imports(path)
        if name.split(".")[0] in ONLY and path.stem not in ONLY[name.split(".")[0]]
    ]
    assert strays == []
