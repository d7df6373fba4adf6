"""The format registry: each format answers to its suffixes, and every --format is in it."""

from __future__ import annotations

import click

from osmcams.cli import cli
from osmcams.outputs.formats import FORMATS, REGISTRY, suffixes_for


def test_every_suffix_resolves_to_its_format() -> None:
    assert len(FORMATS) == len(REGISTRY)
    for fmt in REGISTRY:
        assert fmt.suffixes and all(s.startswith(".") and s == s.lower() for s in fmt.suffixes)
        for kind in fmt.carries:
            resolved = suffixes_for(kind)
            assert {s: resolved[s] for s in fmt.suffixes} == dict.fromkeys(fmt.suffixes, fmt.name)


def test_a_table_suffix_wins_over_a_layer_in_count() -> None:
    assert suffixes_for("rows", "communes")[".json"] == "json"
    assert suffixes_for("cameras")[".json"] == "geojson"


def _commands(group: click.Group, ctx: click.Context) -> list[click.Command]:
    found: list[click.Command] = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            found += _commands(command, ctx)
        elif command is not None:
            found.append(command)
    return found


def test_every_format_choice_is_in_the_registry() -> None:
    ctx = click.Context(cli)
    named: set[str] = set()
    for command in _commands(cli, ctx):
        for param in command.params:
            if "--format" in getattr(param, "opts", ()) and isinstance(param.type, click.Choice):
                named.update(param.type.choices)
    assert {"table", "csv", "json", "markdown", "geojson", "gpkg", "umap", "kml"} <= named
    assert named <= set(FORMATS), named - set(FORMATS)


def test_the_density_columns_and_their_types_come_from_the_typed_row() -> None:
    """The columns of the table are DensityRow's keys; the .csvt gives each its declared type."""
    from osmcams.join import ROW_KEYS
    from osmcams.outputs.writers import csvt_line

    expected = {  # GDAL's names for str, int, float, bool; a nested dict is written as text
        "insee": "String", "name": "String", "department": "String", "population": "Integer",
        "area_km2": "Real", "coverage": "Real", "partial": "Integer(Boolean)", "cameras": "Integer",
        "cameras_per_km2": "Real", "cameras_per_10k": "Real", "inhabitants_per_camera": "Integer",
        "by_type": "String", "by_scope": "String", "note": "String",
    }
    assert tuple(expected) == ROW_KEYS
    assert csvt_line(ROW_KEYS) == ",".join(f'"{expected[k]}"' for k in ROW_KEYS) + "\n"
