"""Retention: how long each kind of event is kept, and the deletion of what has outlived it.

A ``RetentionPolicy`` gives a time-to-live per track event name, per source (a write key's name or an
import's ``--source``), per event type and a default, plus one for quarantined items. The most specific
rule wins: event name, then source, then type, then the default. ``None`` keeps for ever.

An event's age runs from its ``timestamp`` (when it happened, which is what analytics count by), except
that a timestamp later than ``received_at`` counts as ``received_at``: a client clock set to 2099 cannot
keep an event for ever. So a file of 2019 receipts imported today is as old as its receipts. A quarantined
item has no trusted timestamp and ages from ``received_at``.

``apply_retention`` deletes, in one transaction, the expired events, the ``message_ids`` rows that only
they held, and the expired quarantine items. It deletes logically, as DuckDB does: the bytes stay in free
blocks of the file until ``touchpoints privacy purge`` rewrites it. It does not touch the identity graph,
the consent ledger (proof of consent outlives the events that stated it) or anything else: see
``docs/privacy.md``. ``RetentionSchedule`` runs it from the server's loader thread about once a day.
"""

from __future__ import annotations

import calendar
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from touchpoints.config import Settings
    from touchpoints.store.backend import Backend

log = logging.getLogger(__name__)

MAX_MONTHS = 100 * 12
_DURATION = re.compile(r"(\d+)\s*(day|week|month|year)s?")
_DURATION_HELP = 'a duration like "30 days", "25 months" or "5 years", or "forever" (or 0) to keep for ever'


@dataclass(frozen=True)
class TTL:
    """A time-to-live in calendar months and days (``"5 years"`` is 60 months)."""

    months: int = 0
    days: int = 0

    def __str__(self) -> str:
        if self.months and self.days:
            return f"{self.months} months {self.days} days"
        if self.months:
            return f"{self.months // 12} years" if self.months % 12 == 0 else f"{self.months} months"
        return f"{self.days} days"

    def cutoff(self, now: datetime) -> datetime:
        """The instant before which anything is expired: ``now`` minus the TTL, in calendar months (the
        31st of a shorter month is its last day)."""
        index = now.year * 12 + now.month - 1 - self.months
        year, month = divmod(index, 12)
        day = min(now.day, calendar.monthrange(year, month + 1)[1])
        return now.replace(year=year, month=month + 1, day=day) - timedelta(days=self.days)


def parse_ttl(value: Any) -> TTL | None:
    """``"30 days"``, ``"2 weeks"``, ``"25 months"``, ``"5 years"``; ``0`` or ``"forever"`` is ``None``
    (keep). Raises ``ValueError`` saying what to write instead."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value == 0:
            return None
        raise ValueError(f'has no unit: write "{value} days" or "{value} months" ({_DURATION_HELP})')
    if not isinstance(value, str):
        raise ValueError(f"must be {_DURATION_HELP}; got {value!r}")
    text = value.strip().lower()
    if text in ("forever", "0"):
        return None
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError(f"must be {_DURATION_HELP}; got {value!r}")
    amount, unit = int(match[1]), match[2]
    if amount == 0:
        return None
    ttl = {
        "day": TTL(days=amount),
        "week": TTL(days=7 * amount),
        "month": TTL(months=amount),
        "year": TTL(months=12 * amount),
    }[unit]
    if ttl.months > MAX_MONTHS or ttl.days > MAX_MONTHS * 31:
        raise ValueError(f'is more than 100 years ({value!r}); write "forever" to keep for ever')
    return ttl


def describe(ttl: TTL | None) -> str:
    return "forever" if ttl is None else str(ttl)


# Page and screen views, and track events no rule names: 25 months, as the CNIL's guidance for audience
# measurement (two years of comparisons, plus a month). Identify, group and alias calls carry the profile
# (traits, identifiers, accounts): they last as long as the customer relationship and end with an erasure.
# Orders: lifetime-value models and cohorts need several years of purchases.
DEFAULT_TTL: TTL | None = TTL(months=25)
QUARANTINE_TTL: TTL | None = TTL(days=30)
DEFAULT_TYPES: dict[str, TTL | None] = {"identify": None, "group": None, "alias": None}
DEFAULT_EVENTS: dict[str, TTL | None] = {"Order Completed": TTL(months=60), "Order Refunded": TTL(months=60)}


@dataclass(frozen=True)
class Rule:
    kind: str  # event | source | type | default | quarantine
    match: str | None
    ttl: TTL | None

    @property
    def label(self) -> str:
        if self.match is None:
            return self.kind
        return f'event "{self.match}"' if self.kind == "event" else f"{self.kind} {self.match}"


@dataclass(frozen=True)
class RetentionPolicy:
    """A home's ``[retention]`` settings; each table entry replaces the default for that key only."""

    default: TTL | None = DEFAULT_TTL
    quarantine: TTL | None = QUARANTINE_TTL
    types: Mapping[str, TTL | None] = field(default_factory=lambda: dict(DEFAULT_TYPES))
    events: Mapping[str, TTL | None] = field(default_factory=lambda: dict(DEFAULT_EVENTS))
    sources: Mapping[str, TTL | None] = field(default_factory=dict)
    automatic: bool = False

    def event_rules(self) -> list[Rule]:
        """The rules for events, most specific first; the default last."""
        return [
            *(Rule("event", name, ttl) for name, ttl in sorted(self.events.items())),
            *(Rule("source", name, ttl) for name, ttl in sorted(self.sources.items())),
            *(Rule("type", name, ttl) for name, ttl in sorted(self.types.items())),
            Rule("default", None, self.default),
        ]


@dataclass
class RuleOutcome:
    rule: Rule
    cutoff: datetime | None
    expired: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule.kind,
            "match": self.rule.match,
            "keep": describe(self.rule.ttl),
            "older_than": self.cutoff,
            "expired": self.expired,
        }


@dataclass
class RetentionReport:
    at: datetime
    dry_run: bool
    rules: list[RuleOutcome]  # the event rules in precedence order, then the quarantine's
    events: int = 0
    message_ids: int = 0
    quarantine: int = 0

    def counts(self) -> dict[str, Any]:
        """What the audit log keeps: counts only, never an identifier."""
        return {
            "events": self.events,
            "message_ids": self.message_ids,
            "quarantine": self.quarantine,
            "rules": {o.rule.label: o.expired for o in self.rules if o.expired},
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "dry_run": self.dry_run,
            "events": self.events,
            "message_ids": self.message_ids,
            "quarantine": self.quarantine,
            "rules": [o.as_dict() for o in self.rules],
        }


class _DryRun(Exception):
    """Raised to roll the deletions back."""


_COLUMNS = {"event": "event", "source": "source", "type": "type"}


def apply_retention(
    db: Backend, policy: RetentionPolicy, *, now: datetime | None = None, dry_run: bool = False
) -> RetentionReport:
    """Deletes what the policy says has expired at ``now`` (default: the current time), in one
    transaction; with ``dry_run`` the same deletions run and are rolled back, so the counts are exact."""
    now = now or datetime.now(UTC)
    rules = policy.event_rules()
    outcomes = [RuleOutcome(r, None if r.ttl is None else r.ttl.cutoff(now)) for r in rules]
    # One CASE picks each event's rule (by its index), another that rule's cutoff (NULL: kept).
    pick, cut = [], []
    pick_params: list[Any] = []
    cut_params: list[Any] = []
    for i, o in enumerate(outcomes[:-1]):
        pick.append(f"WHEN {_COLUMNS[o.rule.kind]} = ? THEN {i}")
        pick_params.append(o.rule.match)
        cut.append(f"WHEN {_COLUMNS[o.rule.kind]} = ? THEN ?::TIMESTAMPTZ")
        cut_params += [o.rule.match, o.cutoff]
    rule_sql = f"CASE {' '.join(pick)} ELSE {len(outcomes) - 1} END" if pick else "0"
    cut_sql = f"CASE {' '.join(cut)} ELSE ?::TIMESTAMPTZ END" if cut else "?::TIMESTAMPTZ"
    cut_params.append(outcomes[-1].cutoff)
    expired = f"least(timestamp, received_at) < {cut_sql}"
    quarantine = RuleOutcome(
        Rule("quarantine", None, policy.quarantine),
        None if policy.quarantine is None else policy.quarantine.cutoff(now),
    )
    report = RetentionReport(now, dry_run, [*outcomes, quarantine])
    try:
        with db.transaction():
            if any(o.cutoff is not None for o in outcomes):
                db.execute(
                    f"CREATE OR REPLACE TEMP TABLE _tp_expired AS SELECT message_id, {rule_sql} AS rule "
                    f"FROM events WHERE {expired}",
                    [*pick_params, *cut_params],
                )
                try:
                    for index, count in db.execute("SELECT rule, count(*) FROM _tp_expired GROUP BY rule"):
                        outcomes[index].expired = int(count)
                    report.events = int(db.execute(f"DELETE FROM events WHERE {expired}", cut_params)[0][0])
                    # A messageId stored again after its dedup window passed belongs to the newer event too.
                    report.message_ids = int(
                        db.execute(
                            "DELETE FROM message_ids WHERE message_id IN (SELECT message_id FROM _tp_expired) "
                            "AND message_id NOT IN (SELECT message_id FROM events)"
                        )[0][0]
                    )
                finally:
                    db.execute("DROP TABLE IF EXISTS _tp_expired")
            if report.events:  # the prepared copy for analytics and the value scores must not outlive them
                from touchpoints.analytics.prepared import invalidate
                from touchpoints.predictive.value import forget_all

                invalidate(db)
                forget_all(db)
            if quarantine.cutoff is not None:
                report.quarantine = quarantine.expired = int(
                    db.execute("DELETE FROM quarantine WHERE received_at < ?", [quarantine.cutoff])[0][0]
                )
            if report.events != sum(o.expired for o in outcomes):  # the same predicate, in one snapshot
                raise RuntimeError("retention: the events deleted differ from those counted; nothing deleted")
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    return report


DAY_SECONDS = 24 * 3600.0
RETRY_SECONDS = 600.0
LOADER_ACTOR = "system:loader"


class RetentionSchedule:
    """Applies a home's retention from a long-running process: when it starts, then about once a day.

    ``run_if_due`` is called on every turn of the server's loader thread and costs one clock reading when
    nothing is due. A run that fails (the store busy, a disk error) is logged and tried again in ten
    minutes. A run that deleted something is on the audit log as ``retention.apply`` by ``system:loader``
    (a day with nothing expired changed no personal data, and would only bury the entries that matter).
    """

    def __init__(
        self,
        policy: RetentionPolicy,
        audit_path: Path,
        *,
        every: float = DAY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        parquet: str | None = None,
    ) -> None:
        self.policy = policy
        self.parquet = parquet  # Spark's copy of the prepared events, deleted when events expire
        self.audit_path = audit_path
        self.every = every
        self.clock = clock
        self.next_run = clock()

    @classmethod
    def for_settings(cls, settings: Settings) -> RetentionSchedule | None:
        """None when ``retention.automatic`` is off."""
        if not settings.retention.automatic:
            return None
        return cls(settings.retention, settings.audit_path, parquet=settings.parquet_location)

    def run_if_due(self, store_path: Path) -> RetentionReport | None:
        if self.clock() < self.next_run:
            return None
        from touchpoints.privacy.audit import AuditLog
        from touchpoints.store.backend import StoreBusy
        from touchpoints.store.duckdb import open_store

        try:
            with open_store(store_path, wait_seconds=5.0) as db:
                report = apply_retention(db, self.policy)
            if report.events and self.parquet:
                from touchpoints.store.spark import forget

                forget(self.parquet)
        except StoreBusy as exc:
            log.warning("retention: %s; trying again in %.0f s", exc, RETRY_SECONDS)
            self.next_run = self.clock() + RETRY_SECONDS
            return None
        except Exception:  # a thread of the server: log it, keep serving, try later
            log.exception("retention: the daily run failed; nothing was deleted; trying again later")
            self.next_run = self.clock() + RETRY_SECONDS
            return None
        self.next_run = self.clock() + self.every
        if report.events or report.message_ids or report.quarantine:
            AuditLog(self.audit_path).append(
                LOADER_ACTOR, "retention.apply", None, via="loader", **report.counts()
            )
            log.info(
                "retention: deleted %d events and %d quarantined items", report.events, report.quarantine
            )
        return report
