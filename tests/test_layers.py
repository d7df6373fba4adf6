"""The import layers the README promises, read from the source with ast.

Modules are named by their path under ``osmcams`` (``sources.pbf``); a module
may import only from layers below its own, and a package's ``__init__`` from
anything below it.
"""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src" / "osmcams"
# From the top (the CLI) down to the errors every layer may raise.
LAYERS = [
    ["cli"],
    ["cli.count", "cli.download", "cli.evidence", "cli.timeline", "cli.site"],
    ["cli.refresh"],
    ["cli.maps"],
    ["cli.options"],
    ["cli.render"],
    ["refresh.backfill", "analysis.dated"],
    ["analysis.ohsome"],
    ["refresh.run"],
    ["refresh.site"],
    ["analysis.compare", "analysis.quality", "analysis.timeline"],
    ["refresh.config", "analysis.match"],
    ["online"],
    ["counting"],
    ["outputs.maps", "outputs.charts"],
    ["outputs.umap", "outputs.sets"],
    ["outputs.figures"],
    ["outputs.writers"],
    ["outputs.formats", "outputs.fov"],
    ["join", "refresh.mirror", "store.history", "store.kept"],
    ["store.sql"],
    ["sources.overpass", "sources.geoapi", "sources.download", "sources.replication",
     "sources.ohsome"],
    ["sources.osm.osh"],
    ["sources.osm.pbf"],
    ["sources.osm.sieve"],
    ["sources.osm.blocks", "sources.http", "sources.extent"],
    ["communes.boundaries", "communes.from_osm"],
    ["communes.names"],
    ["communes.population"],
    ["communes.cache"],
    ["communes.model"],
    ["geo.areas", "geo.rings", "geo.footprint", "communes.geojson"],
    ["files", "settings", "models", "arrays", "forks"],
    ["errors"],
]
# Their __init__ holds only a docstring.
PACKAGES = {"sources", "outputs", "analysis", "geo", "communes", "sources.osm", "store", "refresh"}
ONLY = {"click": {"cli"}, "rich": {"cli"}, "requests": {"sources.http"}, "urllib3": {"sources.http"},
        "requests_cache": {"sources.http"},
        "osmium": {"sources.osm.pbf", "sources.osm.osh", "sources.replication"},
        "google": {"sources.osm.sieve"}, "isal": {"sources.osm.blocks"},
        "zstandard": {"sources.osm.blocks"}, "lz4": {"sources.osm.blocks"}}


def _module(path: Path) -> str:
    parts = path.relative_to(SOURCE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module(p): p for p in SOURCE.rglob("*.py") if p.name != "__main__.py"}


def _imports(path: Path) -> set[str]:
    """Modules under osmcams that ``path`` imports, as ``sources.pbf``."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    known = _modules()
    return {name.removeprefix("osmcams.") for name in names
            if name.startswith("osmcams.") and name.removeprefix("osmcams.") in known}


def _third_party(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
    return names


def test_every_module_has_a_layer() -> None:
    modules = set(_modules()) - {""} - PACKAGES
    assert modules == {m for layer in LAYERS for m in layer}


def test_packages_hold_no_code() -> None:
    for package in PACKAGES:
        init = SOURCE / package.replace(".", "/") / "__init__.py"
        body = ast.parse(init.read_text(encoding="utf-8")).body
        assert len(body) == 1 and isinstance(body[0], ast.Expr), package


def test_modules_import_only_from_lower_layers() -> None:
    rank = {m: i for i, layer in enumerate(LAYERS) for m in layer}
    upward = [
        (module, target)
        for module, path in _modules().items()
        if module in rank
        for target in _imports(path)
        if target in rank and target != module and rank[target] <= rank[module]
    ]
    assert upward == []


def test_third_party_libraries_stay_in_their_module() -> None:
    strays = [
        (module, name)
        for module, path in _modules().items()
        for name in _third_party(path)
        if name in ONLY and not any(module == m or module.startswith(m + ".") for m in ONLY[name])
    ]
    assert strays == []


def test_no_module_imports_another_modules_private_names() -> None:
    """A name that another module needs is public: `from osmcams.x import _y` is a seam without a name."""
    private = [
        (module, f"{node.module}.{alias.name}")
        for module, path in _modules().items()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("osmcams")
        for alias in node.names
        if alias.name.startswith("_") and not alias.name.startswith("__")
    ]
    assert private == []


def test_folders_import_only_from_folders_below() -> None:
    """The packages are floors: counting and the store below the refresh, the CLI on top."""
    floors = [["cli"], ["refresh"], ["analysis", "online", "counting"], ["outputs"], ["join", "store"],
              ["sources"], ["communes", "geo"], ["files", "settings", "models", "arrays", "forks", "errors"]]
    rank = {name: i for i, floor in enumerate(floors) for name in floor}
    assert set(rank) >= {m.split(".")[0] for m in _modules()} - {""}
    upward = sorted(
        (module, target)
        for module, path in _modules().items() if module
        for target in _imports(path)
        if rank[target.split(".")[0]] < rank[module.split(".")[0]]
    )
    assert upward == []
