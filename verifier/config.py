"""Stage configs: pydantic models whose defaults are the papers' hyperparameters.

A config is resolved in three layers, later wins: the class defaults, a TOML file (``--config x.toml``,
either flat or under a ``[stage]`` table named by :attr:`StageConfig.section`), then CLI flags. The
resolved config is written beside every artifact with :func:`save_resolved` so each run can be
reproduced. Field docstrings double as ``--help`` text.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import tomllib
from pydantic import BaseModel, ConfigDict, ValidationError

from verifier.io import InputError, write_json

C = TypeVar("C", bound="StageConfig")


class ConfigError(ValueError):
    """A config value is invalid; the message names the flag, e.g. ``--tau2 must be in [-1, 1]``."""


class StageConfig(BaseModel):
    """Base of every stage config: strict keys, field docstrings as help text."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, validate_assignment=True)
    section: ClassVar[str] = "stage"

    @classmethod
    def field_help(cls, name: str) -> str:
        info = cls.model_fields[name]
        return (info.description or "").strip()


def _flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def resolve_config(
    cls: type[C], toml_path: str | os.PathLike[str] | None = None, overrides: dict[str, Any] | None = None
) -> C:
    """Build ``cls`` from defaults < TOML file < overrides (``None`` overrides are ignored)."""
    values: dict[str, Any] = {}
    if toml_path is not None:
        p = Path(toml_path)
        try:
            with open(p, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise InputError(p, 0, "path", "config file not found") from None
        except tomllib.TOMLDecodeError as e:
            raise InputError(p, 0, "toml", str(e)) from None
        values.update(data.get(cls.section, data) if isinstance(data.get(cls.section), dict) else data)
    for k, v in (overrides or {}).items():
        if v is not None:
            values[k] = v
    try:
        return cls.model_validate(values)
    except ValidationError as e:
        first = e.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "config"
        msg = first["msg"]
        if first["type"] == "extra_forbidden":
            raise ConfigError(f"unknown config key {field!r} for [{cls.section}]") from None
        raise ConfigError(f"{_flag(field)}: {msg}") from None


def save_resolved(cfg: BaseModel, directory: str | os.PathLike[str], name: str = "config.resolved.json") -> Path:
    """Write the resolved config beside an artifact (atomically) and return its path."""
    path = Path(directory) / name
    write_json(path, cfg.model_dump(mode="json"))
    return path


def cache_dir() -> Path:
    """The user cache for models and downloaded data: ``$VERIFIER_CACHE``, else ``$XDG_CACHE_HOME/verifier``,
    else ``~/.cache/verifier``. Never inside the repository."""
    env = os.environ.get("VERIFIER_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "verifier"


def add_config_flags(parser: Any, cls: type[StageConfig], skip: tuple[str, ...] = ()) -> None:
    """Add one ``--flag`` per config field (help text from the field docstring, choices from Literals).

    Every flag defaults to None, so only flags the user gave override the TOML file and the defaults.
    """
    import argparse
    import typing

    for name, info in cls.model_fields.items():
        if name in skip:
            continue
        ann = info.annotation
        args = (
            [a for a in typing.get_args(ann) if a is not type(None)]
            if typing.get_origin(ann) in (typing.Union, getattr(__import__("types"), "UnionType", None))
            else [ann]
        )
        base = args[0] if args else ann
        kwargs: dict[str, Any] = {
            "default": None,
            "help": f"{(info.description or '').strip()} (default: {info.default})",
        }
        if base is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(base) is typing.Literal:
            kwargs["choices"] = list(typing.get_args(base))
        elif base in (int, float, str):
            kwargs["type"] = base
        elif typing.get_origin(base) is list:
            kwargs["nargs"] = "+"
        parser.add_argument(_flag(name), dest=name, **kwargs)


def config_from_args(cls: type[C], args: Any) -> C:
    """Resolve ``cls`` from ``args.config`` (TOML) and the flags ``add_config_flags`` added."""
    overrides = {name: getattr(args, name, None) for name in cls.model_fields}
    return resolve_config(cls, getattr(args, "config", None), overrides)
