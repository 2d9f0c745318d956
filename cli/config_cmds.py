"""`plotboss-cli config init|check`: example configs and validation without starting anything."""

from __future__ import annotations

from pathlib import Path

import click
from pydantic import BaseModel

from cli.app import cli
from cli.examples import EXAMPLES
from cli.fleet import FleetConfig
from cli.targets import ClientOptions, resolve_targets
from farmer_agent.config import FarmerConfig
from plotboss.auth import resolve_tokens
from plotboss.config import load_config
from plotboss.errors import ConfigError
from plotboss.transport import check_listen_policy, server_credentials
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
    """Validate a KIND config file; exit 2 with the file and field named when it is wrong.

    Beyond the schema, it checks what the agent (or the CLI, for a fleet file) would check at start: token files
    readable and well-formed, TLS files readable PEM, for a plotter its log dir (and warnings for tmp/dst dirs that are
    missing and sections not acted on yet), and whether the listen address needs --insecure (a warning).
    """
    cfg = load_config(path, MODELS[kind])
    for warning in _start_checks(kind, cfg, path):
        click.echo(f"plotboss-cli: warning: {warning}", err=True)
    click.echo(f"{path}: ok")


def _start_checks(kind: str, cfg: BaseModel, path: Path) -> list[str]:
    """The checks an agent or the CLI makes when it starts; ConfigError on a problem, warnings returned."""
    if kind == "fleet":
        assert isinstance(cfg, FleetConfig)
        opts = ClientOptions(
            fleet=path, plotters=(), farmers=(), token_file=None, tls_ca=None, tls_cert=None, tls_key=None
        )
        if cfg.plotters:
            resolve_targets(opts, "plotter")
        if cfg.farmers:
            resolve_targets(opts, "farmer")
        return []
    assert isinstance(cfg, PlotterConfig | FarmerConfig)
    section = cfg.agent
    resolve_tokens(section.tokens, f"{path}: agent.tokens")
    if section.tls is not None:
        server_credentials(section.tls, f"{path}: agent.tls")
    warnings = []
    if isinstance(cfg, PlotterConfig) and cfg.plotting is not None:
        from plotter_agent.schedconfig import check_executable  # only config check needs the plotter modules

        try:  # config check may run away from the plotting machine: the agent itself refuses to start
            check_executable(cfg.plotting, str(path))
        except ConfigError as e:
            warnings.append(f"{e} (on this machine the agent would not start)")
    try:
        check_listen_policy(section.listen, section.tls, False, f"{path}: agent.listen", warn=False)
    except ConfigError as e:
        warnings.append(f"{e} (as configured, the agent starts only with --insecure)")
    if isinstance(cfg, PlotterConfig):
        from plotter_agent.app import start_checks

        warnings += start_checks(cfg, str(path))
    return warnings
