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

from touchpoints.identity.rules import DEFAULT_BLOCKED, KINDS, IdentityRules
from touchpoints.privacy.consent import (
    DEFAULT_CATEGORIES,
    DEFAULT_MODES,
    MODES,
    WITHOUT_CONSENT,
    PrivacyPolicy,
)
from touchpoints.privacy.retention import DEFAULT_EVENTS, DEFAULT_TYPES, TTL, RetentionPolicy, parse_ttl

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

[api]
# Rate limits per key: a key may send a burst of requests at once, then so many a second; over that it is
# answered 429 with Retry-After (the SDKs wait and send again, so no event is lost). 0 turns a limit off.
# Ingest, per write key (one write key serves every browser of a web site, hence generous):
ingest_requests_per_second = 1000
ingest_burst = 2000
# The read and admin APIs (Authorization: Bearer), per read or admin key: enough for a support tool,
# too few to page through the customer base.
read_requests_per_second = 20
read_burst = 40

[loader]
# How often the loader moves spooled events into the store, in seconds.
interval_seconds = 0.2
# The spool starts a new segment file after this many bytes; loaded segments are deleted.
segment_bytes = 67108864
# ... or after this many seconds, so loaded events do not linger in the spool of a quiet site.
segment_seconds = 3600

[profiles]
# Which value of a trait a profile shows when sources disagree: "latest" (the most recent wins), or
# "source_priority" (the first of source_priority that has one wins, the most recent among equals).
trait_precedence = "latest"
# Sources (an import's --source, a write key's name) or channels, most trusted first, e.g. ["crm", "pos"].
source_priority = []

[analytics]
# Where analyses run: "duckdb" (the embedded store) or "spark" (the [spark] settings below; needs
# `pip install 'touchpoints[spark]'` and Java 17). `--engine` on a command overrides it.
engine = "duckdb"
# The time zone days, weeks and months are counted in (an IANA name, e.g. "Europe/London"); stored times
# are UTC. `--timezone` overrides it.
timezone = "UTC"
# Analyses read a prepared copy of the events (customers resolved, sessions, referrers, devices). The
# command line refreshes it whenever the store changed; the HTTP API serves a copy at most this many
# seconds old, so a busy site does not rebuild it for every request.
max_staleness_seconds = 300

[spark]
# The Spark master: "local[2]" runs on this machine; "spark://host:7077", "yarn" or "k8s://..." a cluster.
master = "local[2]"
# Where the prepared events are written as Parquet (partitioned by month) for Spark to read: a folder, or
# an object store URL the cluster can reach (s3://bucket/touchpoints, gs://..., hdfs://...). Empty: the
# home's parquet/ folder.
parquet = ""
driver_memory = "2g"

[identity]
# At most this many identifiers of a kind in one customer: a link that would exceed it is refused and
# logged. One user_id per customer keeps a shared device or a kiosk from fusing two account holders.
limits = { user_id = 1 }
# An event's identifiers are linked to the first of them in this order; the rest follow it.
priority = ["user_id", "email", "phone", "loyalty_id", "record", "device_id", "social", "anonymous_id"]
# Values never used as identifiers, besides the built-in placeholders ("null", "test@test.com", ...):
# add shared ids here, e.g. a store's kiosk device or a family account's e-mail.
blocked_values = []
# Traits that are identifiers of their own kind, e.g. ["crm_id", "shopify_id"].
custom_identifiers = []
# Phone numbers without a country code are read as numbers of this region, e.g. "GB" or "US".
# phone_region = "US"
# Probabilistic matching (touchpoints identity resolve): merge pairs at or above match_threshold,
# queue pairs at or above review_threshold for `touchpoints identity review`.
match_threshold = 0.99
review_threshold = 0.8

[privacy]
# Per purpose, "opt_in" (processed only after the person granted it) or "opt_out" (processed until they
# deny it). In the EU, set analytics and personalisation to "opt_in" too. Add purposes of your own here,
# e.g. research = "opt_in"; every export or audience names the purpose it serves.
modes = { analytics = "opt_out", marketing = "opt_in", personalisation = "opt_out", sale_sharing = "opt_out" }
# Events that analytics consent does not allow: "anonymise" (stored with no identifier, trait, IP or
# device id: they still count) or "drop" (not stored).
without_consent = "anonymise"
# Your consent manager's category names and the purpose each means, added to the built-in ones
# (Advertising -> marketing, Statistics -> analytics, Functional -> personalisation, ...).
categories = {}

[retention]
# How long events are kept: "30 days", "2 weeks", "25 months", "5 years"; 0 or "forever" keeps for ever.
# The most specific rule wins: [retention.events] (a track event's name), then [retention.sources] (a write
# key's name or an import's --source), then [retention.types], then default. An event's age runs from its
# timestamp. `touchpoints privacy retention --dry-run` shows what would go.
# Page and screen views and every event no rule names: 25 months (the CNIL's audience-measurement limit).
default = "25 months"
# Quarantined items (refused events, with their raw payload), counted from when they arrived.
quarantine = "30 days"
# true: the server applies these rules when it starts and about once a day (recommended in production).
# Off by default so that history you import (years of orders, a reference data set) is never deleted by
# surprise: run `touchpoints privacy retention --dry-run` first, then switch it on.
automatic = false

[retention.types]
# identify, group and alias carry the profile (traits, identifiers): kept until the customer is erased.
identify = "forever"
group = "forever"
alias = "forever"

[retention.events]
# Orders: lifetime-value models and cohorts need years of purchases.
"Order Completed" = "5 years"
"Order Refunded" = "5 years"

[retention.sources]
# e.g. census = "12 months"
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
    ingest_requests_per_second: float = 1000.0
    ingest_burst: int = 2000
    read_requests_per_second: float = 20.0
    read_burst: int = 40
    loader_interval_seconds: float = 0.2
    spool_segment_bytes: int = 64 * 1024 * 1024
    spool_segment_seconds: float = 3600.0
    trait_precedence: str = "latest"
    analytics_engine: str = "duckdb"
    analytics_timezone: str = "UTC"
    analytics_max_staleness_seconds: float = 300.0
    spark_master: str = "local[2]"
    spark_parquet: str = ""
    spark_driver_memory: str = "2g"
    source_priority: tuple[str, ...] = ()
    identity: IdentityRules = field(default_factory=IdentityRules)
    privacy: PrivacyPolicy = field(default_factory=PrivacyPolicy)
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
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
    def audit_path(self) -> Path:
        return self.home / "audit.jsonl"

    @property
    def parquet_location(self) -> str:
        """Where the prepared events are written for Spark: a folder or an object store URL."""
        if not self.spark_parquet:
            return str(self.home / "parquet")
        if "://" in self.spark_parquet:
            return self.spark_parquet
        return str((self.home / Path(self.spark_parquet).expanduser()).resolve())  # relative: to the home

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
    "api": {
        "ingest_requests_per_second": "ingest_requests_per_second",
        "ingest_burst": "ingest_burst",
        "read_requests_per_second": "read_requests_per_second",
        "read_burst": "read_burst",
    },
    "loader": {
        "interval_seconds": "loader_interval_seconds",
        "segment_bytes": "spool_segment_bytes",
        "segment_seconds": "spool_segment_seconds",
    },
    "profiles": {"trait_precedence": "trait_precedence", "source_priority": "source_priority"},
    "analytics": {
        "engine": "analytics_engine",
        "timezone": "analytics_timezone",
        "max_staleness_seconds": "analytics_max_staleness_seconds",
    },
    "spark": {"master": "spark_master", "parquet": "spark_parquet", "driver_memory": "spark_driver_memory"},
}

TRAIT_PRECEDENCES = ("latest", "source_priority")
ENGINES = ("duckdb", "spark")


def _check_timezone(path: Path, name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"{path}: analytics.timezone {name!r} is not an IANA time zone, e.g. Europe/London"
        ) from exc


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
        if section == "retention" and isinstance(values, dict):
            changes["retention"] = _retention_policy(path, values)
            continue
        if section == "privacy" and isinstance(values, dict):
            changes["privacy"] = _privacy_policy(path, values)
            continue
        if section == "identity" and isinstance(values, dict):
            changes["identity"] = _identity_rules(path, values)
            continue
        known = _SECTIONS.get(section)
        if known is None or not isinstance(values, dict):
            raise ConfigError(
                f"{path}: unknown section [{section}]; known: {', '.join([*_SECTIONS, 'identity', 'privacy', 'retention'])}"
            )
        for key, value in values.items():
            attr = known.get(key)
            if attr is None:
                raise ConfigError(f"{path}: unknown setting {section}.{key}; known: {', '.join(known)}")
            changes[attr] = _coerce(path, f"{section}.{key}", str(types[attr]), value)
    settings = replace(settings, **changes)
    _check_profiles(path, settings)
    if settings.analytics_engine not in ENGINES:
        raise ConfigError(
            f"{path}: analytics.engine must be one of {', '.join(ENGINES)}, got {settings.analytics_engine!r}"
        )
    _check_timezone(path, settings.analytics_timezone)
    if settings.spool_segment_seconds <= 0:
        raise ConfigError(f"{path}: loader.segment_seconds must be above 0, e.g. 3600")
    return settings


def _check_profiles(path: Path, settings: Settings) -> None:
    if settings.trait_precedence not in TRAIT_PRECEDENCES:
        raise ConfigError(
            f"{path}: profiles.trait_precedence must be one of {', '.join(TRAIT_PRECEDENCES)}, "
            f"got {settings.trait_precedence!r}"
        )
    if settings.trait_precedence == "source_priority" and not settings.source_priority:
        raise ConfigError(
            f'{path}: profiles.trait_precedence = "source_priority" needs profiles.source_priority, '
            'e.g. ["crm", "pos"]'
        )
    if settings.trait_precedence == "latest" and settings.source_priority:
        raise ConfigError(
            f'{path}: profiles.source_priority is set but trait_precedence is "latest", so it would be '
            'ignored; set trait_precedence = "source_priority" to use it'
        )


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


def _strings(path: Path, name: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{path}: identity.{name} must be a list of strings, got {value!r}")
    return list(value)


def _identity_rules(path: Path, values: dict[str, Any]) -> IdentityRules:
    """The ``[identity]`` section, checked: a wrong rule would merge the wrong people."""
    known = ("limits", "priority", "blocked_values", "custom_identifiers", "phone_region", "match_threshold",
             "review_threshold")  # fmt: skip
    for key in values:
        if key not in known:
            raise ConfigError(f"{path}: unknown setting identity.{key}; known: {', '.join(known)}")
    custom = tuple(_strings(path, "custom_identifiers", values.get("custom_identifiers", [])))
    for name in custom:
        if not name.isidentifier() or name in KINDS:
            raise ConfigError(
                f"{path}: identity.custom_identifiers: {name!r} must be a trait name (letters, digits, _) "
                f"and not a built-in kind ({', '.join(KINDS)})"
            )
    kinds = (*KINDS, *custom)
    limits = values.get("limits", {"user_id": 1})
    if not isinstance(limits, dict) or not all(
        k in kinds and isinstance(v, int) and not isinstance(v, bool) and v >= 1 for k, v in limits.items()
    ):
        raise ConfigError(
            f"{path}: identity.limits must map identifier kinds ({', '.join(kinds)}) to whole numbers >= 1, "
            f"got {limits!r}"
        )
    priority = tuple(_strings(path, "priority", values.get("priority", list(KINDS))))
    unknown = [k for k in priority if k not in kinds]
    if unknown:
        raise ConfigError(f"{path}: identity.priority has unknown kinds {unknown}; known: {', '.join(kinds)}")
    priority = (*priority, *(k for k in kinds if k not in priority))
    blocked = frozenset(
        {
            *DEFAULT_BLOCKED,
            *(v.strip().lower() for v in _strings(path, "blocked_values", values.get("blocked_values", []))),
        }
    )
    region = values.get("phone_region")
    if region is not None and not (isinstance(region, str) and len(region) == 2 and region.isalpha()):
        raise ConfigError(
            f'{path}: identity.phone_region must be a two-letter region code like "GB", got {region!r}'
        )
    thresholds = {}
    for key, default in (("match_threshold", 0.99), ("review_threshold", 0.8)):
        value = values.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
            raise ConfigError(f"{path}: identity.{key} must be a probability in (0, 1], got {value!r}")
        thresholds[key] = float(value)
    if thresholds["review_threshold"] > thresholds["match_threshold"]:
        raise ConfigError(f"{path}: identity.review_threshold must not be above identity.match_threshold")
    return IdentityRules(
        limits=dict(limits),
        priority=priority,
        blocked_values=blocked,
        custom=custom,
        phone_region=region.upper() if region else None,
        **thresholds,
    )


def _privacy_policy(path: Path, values: dict[str, Any]) -> PrivacyPolicy:
    """The ``[privacy]`` section, checked: a wrong rule would process people without their consent."""
    known = ("modes", "without_consent", "categories")
    for key in values:
        if key not in known:
            raise ConfigError(f"{path}: unknown setting privacy.{key}; known: {', '.join(known)}")
    modes = dict(DEFAULT_MODES)
    given = values.get("modes", {})
    if not isinstance(given, dict):
        raise ConfigError(
            f'{path}: privacy.modes must be a table like {{ analytics = "opt_in" }}, got {given!r}'
        )
    for purpose, mode in given.items():
        if not purpose.isidentifier() or purpose != purpose.lower():
            raise ConfigError(
                f"{path}: privacy.modes: purpose {purpose!r} must be a lower-case name (a-z, 0-9, _)"
            )
        if mode not in MODES:
            raise ConfigError(
                f"{path}: privacy.modes.{purpose} must be one of {', '.join(MODES)}, got {mode!r}"
            )
        modes[purpose] = mode
    without = values.get("without_consent", "anonymise")
    if without not in WITHOUT_CONSENT:
        raise ConfigError(
            f"{path}: privacy.without_consent must be one of {', '.join(WITHOUT_CONSENT)}, got {without!r}"
        )
    categories = dict(DEFAULT_CATEGORIES)
    extra = values.get("categories", {})
    if not isinstance(extra, dict) or not all(isinstance(v, str) for v in extra.values()):
        raise ConfigError(
            f'{path}: privacy.categories must map category names to purposes, e.g. {{ Ads = "marketing" }}, '
            f"got {extra!r}"
        )
    for category, purpose in extra.items():
        if purpose not in modes:
            raise ConfigError(
                f"{path}: privacy.categories.{category} names purpose {purpose!r}, which is not one of "
                f"{', '.join(modes)}"
            )
        categories[category.lower()] = purpose
    return PrivacyPolicy(modes=modes, categories=categories, without_consent=without)


def _retention_policy(path: Path, values: dict[str, Any]) -> RetentionPolicy:
    """The ``[retention]`` section, checked: a wrong time-to-live deletes what should have been kept."""
    from touchpoints.events.model import EVENT_TYPES  # events imports config: not at the top

    known = ("default", "quarantine", "automatic", "types", "events", "sources")
    for key in values:
        if key not in known:
            raise ConfigError(f"{path}: unknown setting retention.{key}; known: {', '.join(known)}")

    def ttl(name: str, value: Any) -> TTL | None:
        try:
            return parse_ttl(value)
        except ValueError as exc:
            raise ConfigError(f"{path}: retention.{name} {exc}") from exc

    tables: dict[str, dict[str, TTL | None]] = {}
    for table, defaults, example in (
        ("types", DEFAULT_TYPES, 'page = "13 months"'),
        ("events", DEFAULT_EVENTS, '"Order Completed" = "5 years"'),
        ("sources", {}, 'census = "12 months"'),
    ):
        given = values.get(table, {})
        if not isinstance(given, dict):
            raise ConfigError(
                f"{path}: retention.{table} must be a table, e.g. [retention.{table}] {example}; got {given!r}"
            )
        tables[table] = dict(defaults)
        for name, value in given.items():
            key = f"{table}.{name}" if name.isidentifier() else f'{table}."{name}"'
            if not name.strip():
                raise ConfigError(
                    f"{path}: retention.{key}: the name is empty; write the {table[:-1]} it means"
                )
            if table == "types" and name not in EVENT_TYPES:
                raise ConfigError(
                    f"{path}: retention.{key}: {name!r} is not an event type; known: {', '.join(EVENT_TYPES)}"
                )
            if table == "events" and name in EVENT_TYPES:
                raise ConfigError(
                    f"{path}: retention.{key}: {name!r} is an event type, not a track event's name; "
                    "put it under [retention.types]"
                )
            tables[table][name] = ttl(key, value)
    automatic = values.get("automatic", False)
    if not isinstance(automatic, bool):
        raise ConfigError(f"{path}: retention.automatic must be true or false, got {automatic!r}")
    default = RetentionPolicy()
    return RetentionPolicy(
        default=ttl("default", values["default"]) if "default" in values else default.default,
        quarantine=ttl("quarantine", values["quarantine"]) if "quarantine" in values else default.quarantine,
        automatic=automatic,
        **tables,
    )
