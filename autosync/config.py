"""Settings of a mount, from keyword arguments, environment variables and a TOML file.

Precedence, highest first: keyword arguments to :func:`autosync.start`, environment variables
(``AUTOSYNC_<KEY>``), the TOML file, then the defaults. The TOML file is the one named by the
``config_file`` argument or the ``AUTOSYNC_CONFIG`` variable, else ``autosync.toml`` in the current
directory if there is one. Its keys sit at the top level::

    # autosync.toml
    path = "/data"
    debounce_ms = 250
    max_wait_ms = 2000

    >>> from autosync.config import resolve
    >>> resolve({"path": "/data", "debounce_ms": 100}, environ={}).debounce_ms
    100.0

An unknown key or a bad value raises :class:`~autosync.errors.ConfigError` naming the key, the value
and where it came from. This module is pure Python: it imports and is tested on plain CPython.
"""

from __future__ import annotations

import os
import posixpath
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from .errors import ConfigError

ENV_PREFIX = "AUTOSYNC_"
CONFIG_ENV = "AUTOSYNC_CONFIG"
DEFAULT_CONFIG_FILE = "autosync.toml"

# setTimeout takes a signed 32-bit delay; a longer one fires at once (Pyodide's webloop names the same
# limit), so no wait may exceed it.
MAX_TIMEOUT_MS = 2**31 - 1


@dataclass(frozen=True)
class Settings:
    """The validated settings of one mount. Times are in milliseconds."""

    path: str
    #: Flush this long after the last change.
    debounce_ms: float = 500.0
    #: ...but no later than this long after the oldest unsaved change, however often files change.
    max_wait_ms: float = 2000.0
    #: First delay before retrying a failed flush; doubles on each failure up to ``retry_max_ms``.
    retry_min_ms: float = 1000.0
    retry_max_ms: float = 60000.0
    #: Start a flush when the page is hidden or closed (browser main thread only).
    flush_on_hide: bool = True
    #: When another tab's changes to a file lose against this tab's, keep them beside it as
    #: ``<name>.conflict-<n>`` instead of only reporting the conflict.
    keep_conflicts: bool = False
    #: Ask the browser to keep the data (``navigator.storage.persist()``): ``"auto"`` where that
    #: shows no prompt (not in Firefox), True always, False never.
    persist: bool | str = "auto"
    #: ``os.fsync`` returns only once the file's bytes are on disk: journaled in the Origin Private
    #: File System before the IndexedDB commit (dedicated Web Workers only, where browsers offer
    #: synchronous file access; elsewhere start() raises ConfigError).
    durable_fsync: bool = False
    #: Where each value came from ("argument", "environment variable AUTOSYNC_X", "file F", "default").
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)


KEYS = tuple(f.name for f in fields(Settings) if f.name != "sources")


def _number(key: str, value: object, source: str) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"{key}: expected a number of milliseconds, got {value!r} ({source})")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise ConfigError(
                f"{key}: expected a number of milliseconds, got {value!r} ({source})"
            ) from None
    if not isinstance(value, int | float) or value != value:  # NaN is not a duration
        raise ConfigError(f"{key}: expected a number of milliseconds, got {value!r} ({source})")
    number = float(value)
    if number < 0:
        raise ConfigError(f"{key}: must not be negative, got {value!r} ({source})")
    if number > MAX_TIMEOUT_MS:
        raise ConfigError(
            f"{key}: must be at most {MAX_TIMEOUT_MS} ms (the browser's timer limit), "
            f"got {value!r} ({source})"
        )
    return number


def _boolean(key: str, value: object, source: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in ("1", "true", "yes", "on"):
            return True
        if word in ("0", "false", "no", "off"):
            return False
    raise ConfigError(f"{key}: expected true or false, got {value!r} ({source})")


def _persist(key: str, value: object, source: str) -> bool | str:
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    try:
        return _boolean(key, value, source)
    except ConfigError:
        raise ConfigError(
            f"{key}: expected true, false or 'auto', got {value!r} ({source})"
        ) from None


def normalize_path(value: object, source: str = "argument") -> str:
    """The absolute, normalized mount path, or ConfigError saying why ``value`` is not one."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value:
        raise ConfigError(
            f"path: expected an absolute directory path like '/data', got {value!r} ({source})"
        )
    if not value.startswith("/"):
        raise ConfigError(f"path: must be absolute, like '/{value}', got {value!r} ({source})")
    path = posixpath.normpath(value)
    if path.startswith("//"):
        path = "/" + path.lstrip("/")
    if path == "/":
        raise ConfigError(
            f"path: cannot be the root directory '/', which holds Python itself; "
            f"use a directory such as '/data' ({source})"
        )
    return path


_PARSERS: dict[str, Callable[[str, object, str], Any]] = {
    "path": lambda key, value, source: normalize_path(value, source),
    "debounce_ms": _number,
    "max_wait_ms": _number,
    "retry_min_ms": _number,
    "retry_max_ms": _number,
    "flush_on_hide": _boolean,
    "keep_conflicts": _boolean,
    "durable_fsync": _boolean,
    "persist": _persist,
}


def _from_environment(environ: Mapping[str, str]) -> dict[str, tuple[object, str]]:
    found: dict[str, tuple[object, str]] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV:
            continue
        key = name[len(ENV_PREFIX) :].lower()
        if key not in KEYS:
            raise ConfigError(
                f"unknown environment variable {name}={value!r}; autosync reads "
                + ", ".join(ENV_PREFIX + k.upper() for k in KEYS)
                + f" and {CONFIG_ENV}"
            )
        found[key] = (value, f"environment variable {name}")
    return found


def _from_file(path: str) -> dict[str, tuple[object, str]]:
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {path!r} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path!r} is not valid TOML: {e}") from None
    found: dict[str, tuple[object, str]] = {}
    for key, value in data.items():
        if key not in KEYS:
            raise ConfigError(
                f"unknown key {key!r} (value {value!r}) in config file {path!r}; "
                f"known keys: {', '.join(KEYS)}"
            )
        found[key] = (value, f"config file {path}")
    return found


def resolve(
    arguments: Mapping[str, object],
    *,
    environ: Mapping[str, str] | None = None,
    config_file: str | None = None,
) -> Settings:
    """Merge arguments, environment and TOML file into validated :class:`Settings`.

    ``arguments`` holds only the keyword arguments the caller actually passed (``None`` counts as not
    passed). ``environ`` defaults to ``os.environ``.
    """
    env = os.environ if environ is None else environ
    for key, value in arguments.items():
        if key not in KEYS:
            raise ConfigError(
                f"unknown setting {key!r} (value {value!r}); known: {', '.join(KEYS)}"
            )

    file = config_file or env.get(CONFIG_ENV)
    if file is None and os.path.isfile(DEFAULT_CONFIG_FILE):
        file = DEFAULT_CONFIG_FILE
    merged: dict[str, tuple[object, str]] = {}
    if file is not None:
        merged.update(_from_file(file))
    merged.update(_from_environment(env))
    merged.update({k: (v, "argument") for k, v in arguments.items() if v is not None})

    if "path" not in merged:
        raise ConfigError(
            "path: no directory given; call start('/data'), "
            f'set {ENV_PREFIX}PATH, or put path = "/data" in {DEFAULT_CONFIG_FILE}'
        )
    values = {key: _PARSERS[key](key, value, source) for key, (value, source) in merged.items()}
    sources = {key: source for key, (_, source) in merged.items()}
    settings = Settings(**values, sources=sources)
    _check_relations(settings)
    return settings


def _check_relations(s: Settings) -> None:
    def where(key: str) -> str:
        return s.sources.get(key, "default")

    for key in ("max_wait_ms", "retry_min_ms"):
        if getattr(s, key) == 0:
            raise ConfigError(f"{key}: must be greater than 0, got 0 ({where(key)})")
    for key, floor in (("max_wait_ms", "debounce_ms"), ("retry_max_ms", "retry_min_ms")):
        value, least = getattr(s, key), getattr(s, floor)
        if value < least:
            raise ConfigError(
                f"{key}: must be at least {floor} ({least:g}), got {value:g} "
                f"({where(key)}; {floor} from {where(floor)})"
            )


def differences(a: Settings, b: Settings) -> list[str]:
    """Names of the settings in which ``a`` and ``b`` differ."""
    return [key for key in KEYS if getattr(a, key) != getattr(b, key)]
