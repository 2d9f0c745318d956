"""One error tree for the whole project. Domain code raises these; one decorator maps them to gRPC codes."""

from __future__ import annotations


class PlotbossError(Exception):
    """Base of every error plotboss raises on purpose. The message is meant for a user: say what and where."""


class ConfigError(PlotbossError):
    """A config file, command-line argument or environment value is wrong. Entry points exit 2 on it."""


class InvalidArgument(PlotbossError):
    """A request carries a value that can never be valid (bad plot name, negative size, malformed id)."""


class NotFound(PlotbossError):
    """The named thing (job, reservation, drive) does not exist."""


class AlreadyExists(PlotbossError):
    """The thing to create exists already."""


class FailedPrecondition(PlotbossError):
    """The request is well-formed but the system is not in a state to carry it out."""


class Ambiguous(FailedPrecondition):
    """A prefix or name matches more than one thing; the message lists the matches."""


class InsufficientSpace(PlotbossError):
    """No drive/dir has room (or a free writer slot) for the request."""


class Unavailable(PlotbossError):
    """Something the call needs cannot be used right now (e.g. the state file cannot be written); nothing was
    changed, and retrying later may succeed."""


class Conflict(PlotbossError):
    """A concurrent change got there first; retrying may succeed."""


class Unauthenticated(PlotbossError):
    """No credential, or an unknown one."""


class PermissionDenied(PlotbossError):
    """A known credential without the role the call needs."""
