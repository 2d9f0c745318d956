"""plotboss-cli entry point: registers the command modules and turns errors into messages and exit codes."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

import click

from cli.app import cli
from plotboss.errors import ConfigError, PlotbossError


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        rc = cli.main(args=list(argv) if argv is not None else None, prog_name="plotboss-cli", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 1
    except click.exceptions.Exit as e:
        return int(e.exit_code)
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except ConfigError as e:
        click.echo(f"plotboss-cli: {e}", err=True)
        return 2
    except PlotbossError as e:
        click.echo(f"plotboss-cli: {e}", err=True)
        return 1
    return int(rc) if isinstance(rc, int) else 0


if __name__ == "__main__":
    sys.exit(main())
