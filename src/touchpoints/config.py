"""Settings for one Touchpoints home, built once and passed in.

A home is a folder (``--home``, else ``TOUCHPOINTS_HOME``, else ``./.touchpoints``) holding the store, the
spool, the keys and ``config.toml``. Nothing here reads the environment at import time.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

DEFAULT_HOME = ".touchpoints"
CONFIG_FILE = "config.toml"

CONFIG_TEMPLATE = """\
# Touchpoints configuration for this home. Every setting is optional; the values shown are the defaults.

[collector]
# Browser origins allowed to send events from a web page (CORS), e.g. ["https://shop.example.com"].
cors_origins = []
# A redelivered messageId within this many days is acknowledged and not stored again.
dedup_window_days = 7
# Limits, as Segment's: bytes per event, bytes per request after decompression, events per batch.
max_event_bytes = 32768
max_request_bytes = 512000
max_batch_events = 2500
# A timestamp this many hours or more ahead of receivedAt is flagged "timestamp_future".
future_tolerance_hours = 23
# Keep only the network part of client IP addresses (IPv4 /24, IPv6 /48) before anything is written:
# enough for country and city, not for the household. Set to false to keep whole addresses.
truncate_ip = true

[loader]
# How often the loader moves spooled events into the store, in seconds.
interval_seconds = 0.2
# The spool starts a new segment file after this many bytes; loaded segments are deleted.
segment_bytes = 67108864
"""


class ConfigError(ValueError):
    """The home's config.toml has a setting that is unknown or has the wrong type."""


@dataclass(frozen=True)
class Settings:
    """Everything a Touchpoints process needs to know about its home and limits."""

    home: Path
    cors_origins: tuple[str, ...] = ()
    dedup_window_days: float = 7.0
    max_event_bytes: int = 32 * 1024
    max_request_bytes: int = 500 * 1024
    max_batch_events: int = 2500
    future_tolerance_hours: float = 23.0
    truncate_ip: bool = True
    loader_interval_seconds: float = 0.2
    spool_segment_bytes: int = 64 * 1024 * 1024
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def store_path(self) -> Path:
        return self.home / "store.duckdb"

    @property
    def spool_dir(self) -> Path:
        return self.home / "spool"

    @property
    def keys_path(self) -> Path:
        return self.home / "keys.json"

    @property
    def links_path(self) -> Path:
        return self.home / "links.json"

    @property
    def config_path(self) -> Path:
        return self.home / CONFIG_FILE

    @property
    def is_initialised(self) -> bool:
        return self.keys_path.exists() and self.store_path.exists()


def resolve_home(home: str | os.PathLike[str] | None, environ: dict[str, str] | None = None) -> Path:
    """``--home`` wins, then ``TOUCHPOINTS_HOME``, then ``./.touchpoints``."""
    env = os.environ if environ is None else environ
    chosen = home if home is not None else env.get("TOUCHPOINTS_HOME") or DEFAULT_HOME
    return Path(chosen).expanduser().absolute()


_SECTIONS: dict[str, dict[str, str]] = {
    "collector": {
        "cors_origins": "cors_origins",
        "dedup_window_days": "dedup_window_days",
        "max_event_bytes": "max_event_bytes",
        "max_request_bytes": "max_request_bytes",
        "max_batch_events": "max_batch_events",
        "future_tolerance_hours": "future_tolerance_hours",
        "truncate_ip": "truncate_ip",
    },
    "loader": {"interval_seconds": "loader_interval_seconds", "segment_bytes": "spool_segment_bytes"},
}


def load_settings(home: Path) -> Settings:
    """Reads ``home/config.toml`` if it exists; unknown settings are an error, not ignored."""
    settings = Settings(home=home)
    path = settings.config_path
    if not path.exists():
        return settings
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{path}: not valid TOML ({exc}); fix the file or delete it to use defaults"
        ) from exc
    changes: dict[str, Any] = {}
    types = {f.name: f.type for f in fields(Settings)}
    for section, values in data.items():
        known = _SECTIONS.get(section)
        if known is None or not isinstance(values, dict):
            raise ConfigError(f"{path}: unknown section [{section}]; known: {', '.join(_SECTIONS)}")
        for key, value in values.items():
            attr = known.get(key)
            if attr is None:
                raise ConfigError(f"{path}: unknown setting {section}.{key}; known: {', '.join(known)}")
            changes[attr] = _coerce(path, f"{section}.{key}", str(types[attr]), value)
    return replace(settings, **changes)


def _coerce(path: Path, name: str, type_name: str, value: Any) -> Any:
    if type_name == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: {name} must be true or false, got {value!r}")
        return value
    if "tuple" in type_name:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{path}: {name} must be a list of strings, got {value!r}")
        return tuple(value)
    if type_name == "int":
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigError(f"{path}: {name} must be a positive integer, got {value!r}")
        return value
    if type_name == "float":
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(f"{path}: {name} must be a non-negative number, got {value!r}")
        return float(value)
    return value
