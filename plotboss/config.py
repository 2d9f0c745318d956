"""Config pieces shared by both agents and the CLI: strict pydantic models, YAML loading, error messages.

Every error names the file and the field (``plotter.yaml: scheduling.global_max_jobs: expected an integer``) and is
raised as ConfigError; entry points turn it into exit status 2 before anything starts.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, ValidationError, model_validator

from plotboss.errors import ConfigError
from plotboss.small_files import read_small_text

M = TypeVar("M", bound=BaseModel)

MIN_TOKEN_LENGTH = 16

_TYPE_WORDS = {
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "int_from_float": "expected an integer",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "string_type": "expected a string",
    "path_type": "expected a path (a string)",
    "list_type": "expected a list",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
    "extra_forbidden": "unknown key",
    "missing": "required",
}


def _clean_path(path: Path) -> Path:
    if "\x00" in str(path):
        raise ValueError("a path cannot contain a NUL byte")
    return path.expanduser()


#: A filesystem path given as a YAML string (strict models otherwise refuse str -> Path); ``~`` is expanded.
PathStr = Annotated[Path, Strict(False), AfterValidator(_clean_path)]


def token_problem(token: str) -> str | None:
    """Why ``token`` cannot be a bearer token (gRPC metadata is printable ASCII), or None when it can."""
    if len(token) < MIN_TOKEN_LENGTH:
        return f"a token must be at least {MIN_TOKEN_LENGTH} characters (make one with: openssl rand -hex 32)"
    if not all("!" <= c <= "~" for c in token):
        return "a token must be printable ASCII without white space (make one with: openssl rand -hex 32)"
    return None


def read_token(source: SecretSource, where: str) -> str:
    """Read a bearer token (an agent's or the CLI's); ConfigError naming ``where`` when it cannot be read or could
    never be sent as gRPC metadata."""
    try:
        token = source.resolve()
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None
    problem = token_problem(token)
    if problem is not None:
        raise ConfigError(f"{where}: {problem}")
    return token


class StrictModel(BaseModel):
    """Base of every config model: unknown keys are errors, values are immutable, no silent coercion of types."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class SecretSource(StrictModel):
    """Where a secret comes from: exactly one of a file, an environment variable or an inline value."""

    file: PathStr | None = None
    env: str | None = None
    value: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretSource:
        given = [n for n in ("file", "env", "value") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of file, env or value")
        return self

    def describe(self) -> str:
        if self.file is not None:
            return f"file {self.file}"
        if self.env is not None:
            return f"environment variable {self.env}"
        return "inline value"

    def resolve(self) -> str:
        """Read the secret; ConfigError if the file/variable is missing or empty."""
        if self.file is not None:
            try:
                text = read_small_text(self.file)
            except UnicodeDecodeError:
                raise ConfigError(
                    f"{self.describe()} is not UTF-8 text (a secret is text, e.g. from: openssl rand -hex 32)"
                ) from None
            except (OSError, ValueError) as e:
                raise ConfigError(f"cannot read {self.describe()}: {getattr(e, 'strerror', None) or e}") from None
        elif self.env is not None:
            text = os.environ.get(self.env, "")
        else:
            text = self.value or ""
        text = text.strip()
        if not text:
            raise ConfigError(f"{self.describe()} is empty")
        return text


class TokensConfig(StrictModel):
    """Bearer tokens accepted by an agent. A control token may call every RPC; a read token only read RPCs.

    With no tokens at all, read RPCs are open and control RPCs are accepted only with the agent's local credential
    (``plotboss.localcred``) or from clients that presented a certificate verified by ``tls.client_ca`` (mutual TLS).
    """

    read: list[SecretSource] = Field(default_factory=list)
    control: list[SecretSource] = Field(default_factory=list)


class ServerTlsConfig(StrictModel):
    """Server TLS. With ``client_ca`` the agent requires and verifies client certificates (mutual TLS)."""

    cert: PathStr
    key: PathStr
    client_ca: PathStr | None = None


HostPort = Annotated[str, Field(pattern=r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.\-]+):[0-9]{1,5}$")]


class AgentSection(StrictModel):
    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]
    listen: HostPort
    poll_s: Annotated[float, Field(gt=0, le=3600)] = 5.0
    tls: ServerTlsConfig | None = None
    tokens: TokensConfig = Field(default_factory=TokensConfig)
    grace_s: Annotated[float, Field(ge=0, le=600)] = 10.0


class ClientTlsConfig(StrictModel):
    """What a client needs to reach a TLS agent: the CA to trust and, for mutual TLS, its own cert and key."""

    ca: PathStr
    cert: PathStr | None = None
    key: PathStr | None = None
    server_name: str | None = None


Version = Literal[1]


def _loc(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            # pydantic tags union members and validators in loc; they are not user-facing field names
            if item.startswith("function-") or item in {"SecretSource", "ServerTlsConfig", "ClientTlsConfig"}:
                continue
            parts.append(("." if parts else "") + item)
    return "".join(parts) or "(top level)"


def describe_validation_error(label: str, err: ValidationError) -> str:
    """One line per problem: ``label: field.path: message``."""
    lines = []
    for e in err.errors():
        msg = _TYPE_WORDS.get(e["type"], e["msg"])
        if e["type"] in {"value_error", "assertion_error"}:
            msg = str(e["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        lines.append(f"{label}: {_loc(tuple(e['loc']))}: {msg}")
    return "\n".join(lines)


def parse_config(data: Any, model: type[M], label: str) -> M:
    """Validate already-parsed YAML data against ``model``; ConfigError naming ``label`` and the fields."""
    if not isinstance(data, dict):
        raise ConfigError(f"{label}: expected a YAML mapping at the top level, got {type(data).__name__}")
    if "version" not in data:
        raise ConfigError(f"{label}: version: required (this plotboss reads version: 1)")
    version = data.get("version")
    if type(version) is not int or version != 1:  # not `!= 1` alone: YAML `true` and `1.0` equal 1 in Python
        raise ConfigError(f"{label}: version: unsupported version {version!r} (this plotboss reads 1)")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ConfigError(describe_validation_error(label, e)) from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a key given twice in one mapping (safe_load silently keeps the last one: a second
    ``tokens:`` further down would quietly drop the first one's tokens)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key; the base class reports it
                duplicate = False
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark, f"duplicate key {key!r}", key_node.start_mark
                )
            with contextlib.suppress(TypeError):
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_config(path: Path, model: type[M]) -> M:
    """Read and validate a YAML config file. ConfigError (naming the file and field) on any problem."""
    label = str(path)
    try:
        text = read_small_text(path)
    except FileNotFoundError:
        raise ConfigError(f"{label}: no such file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{label}: not a text file (not UTF-8)") from None
    except OSError as e:
        raise ConfigError(f"{label}: cannot read: {e.strerror or e}") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader that also refuses duplicate keys
    except yaml.YAMLError as e:
        where = ""
        mark = getattr(e, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(e, "problem", None) or "invalid YAML"
        raise ConfigError(f"{label}: not valid YAML{where}: {problem}") from None
    return parse_config(data, model, label)
