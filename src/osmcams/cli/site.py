"""site: the static site of a refresh configuration, built from its history store."""

from __future__ import annotations

from pathlib import Path

import click

from osmcams.cli.refresh import config_option
from osmcams.cli.render import handle_errors, say


@click.command()
@config_option
@click.option("-q", "--quiet", is_flag=True, help="Print nothing on success (for cron).")
@handle_errors
def site(config_path: Path, quiet: bool) -> None:
    """Build the whole static site of [site] in the configuration, from its history.

    The index (totals, map, ranking, search, latest changes, downloads), a page, a map
    and an Atom feed per commune, published all or nothing into [site] dir. Later
    refresh runs rewrite only what their changes touched. The pages need no server:
    open index.html from disk, or serve the folder from any path.

    \b
    Example:
      osmcams site --config osmcams.toml
    """
    from osmcams.files import exclusive_lock
    from osmcams.refresh.config import load_config
    from osmcams.refresh.site import build

    config = load_config(config_path)
    config.history.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(config.history, f"building the site of {config.path}"):
        text = build(config, full=True)
    if not quiet:
        say(text)
