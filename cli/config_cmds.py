"""`plotboss-cli config init|check`: example configs and validation without starting anything."""

from __future__ import annotations

from pathlib import Path

import click
from pydantic import BaseModel

from cli.app import cli
from cli.examples import EXAMPLES
from cli.fleet import FleetConfig
from farmer_agent.config import FarmerConfig
from plotboss.config import load_config
from plotter_agent.config import PlotterConfig

MODELS: dict[str, type[BaseModel]] = {"plotter": PlotterConfig, "farmer": FarmerConfig, "fleet": FleetConfig}


@cli.group()
def config() -> None:
    """Example configs and config checks."""


@config.command("init")
@click.argument("kind", type=click.Choice(sorted(EXAMPLES)))
def config_init(kind: str) -> None:
    """Print a commented example KIND config that loads as is."""
    click.echo(EXAMPLES[kind], nl=False)


@config.command("check")
@click.argument("kind", type=click.Choice(sorted(MODELS)))
@click.argument("path", type=click.Path(path_type=Path))
def config_check(kind: str, path: Path) -> None:
    """Validate a KIND config file; exit 2 with the file and field named when it is wrong."""
    load_config(path, MODELS[kind])
    click.echo(f"{path}: ok")
