"""Click options shared by the plotter commands (each command module imports only these, not another's commands)."""

from __future__ import annotations

import click

names_option = click.option(
    "--plotter-name",
    "names",
    multiple=True,
    metavar="NAME",
    help="Only the plotter agents of this name (as the fleet file names them; shell pattern; repeatable).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
