"""Shell completion: `plotboss-cli completion bash|zsh|fish` prints the script (click's machinery), and the JOB
arguments complete to the job ids the plotters report (asked with a short deadline, silently nothing on failure).

The script calls ``plotboss-cli`` back with ``_PLOTBOSS_CLI_COMPLETE=<shell>_complete``; click answers from the
command line typed so far, so ``plotboss-cli --fleet fleet.yaml kill ab<TAB>`` asks that fleet's plotters.
"""

from __future__ import annotations

import dataclasses

import click
from click.shell_completion import CompletionItem, get_completion_class

from cli.app import cli
from cli.targets import ClientOptions

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_PLOTBOSS_CLI_COMPLETE"
#: Deadline of the ListJobs calls behind a completion: a TAB must not hang on an agent that is gone.
COMPLETION_TIMEOUT_S = 1.0


def _options(ctx: click.Context) -> ClientOptions | None:
    """The global options as typed so far (the group callback does not run during completion, so ctx.obj is unset)."""
    params = ctx.find_root().params
    names = {f.name for f in dataclasses.fields(ClientOptions)}
    try:
        return ClientOptions(**{k: v for k, v in params.items() if k in names})
    except TypeError:
        return None


def job_ids(ctx: click.Context, incomplete: str) -> list[str]:
    """Plot ids (and ``pid:N`` for jobs without one) of the jobs on the plotters that start with ``incomplete``."""
    opts = _options(ctx)
    if opts is None:
        return []
    from cli.targets import fan_out, resolve_targets
    from plotboss.v1 import plotter_pb2, plotter_pb2_grpc

    timeout = min(opts.timeout_s or COMPLETION_TIMEOUT_S, COMPLETION_TIMEOUT_S)
    outcomes = fan_out(
        resolve_targets(opts, "plotter"),
        timeout,
        lambda ch: plotter_pb2_grpc.PlotterServiceStub(ch).ListJobs(plotter_pb2.ListJobsRequest()).jobs,
    )
    ids = [j.plot_id or f"pid:{j.pid}" for o in outcomes if o.value is not None for j in o.value]
    prefix = incomplete.lower()
    return sorted(i for i in dict.fromkeys(ids) if i.startswith(prefix))


def complete_job(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    try:
        return [CompletionItem(i) for i in job_ids(ctx, incomplete)]
    except Exception:  # no fleet, a bad fleet file, unreadable TLS files...: completion offers nothing, says nothing
        return []


@cli.command()
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the shell completion script for SHELL.

    \b
    bash:  eval "$(plotboss-cli completion bash)"        (in ~/.bashrc)
    zsh:   eval "$(plotboss-cli completion zsh)"         (in ~/.zshrc)
    fish:  plotboss-cli completion fish > ~/.config/fish/completions/plotboss-cli.fish
    """
    cls = get_completion_class(shell)
    assert cls is not None  # SHELLS are the ones click ships
    click.echo(cls(cli, {}, "plotboss-cli", COMPLETE_VAR).source())
