"""Reading a profile: the one function every reader (the API, the CLI, later the dashboard) goes through,
so that privacy gates (erasure, consent; issue 5) attach in one place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from touchpoints.config import Settings
from touchpoints.identity.lookup import find_customer
from touchpoints.identity.rules import IdentityRules
from touchpoints.profiles.computed import read_computed
from touchpoints.profiles.consent import consent_state
from touchpoints.profiles.events import CustomerEvents
from touchpoints.profiles.timeline import DEFAULT_LIMIT, read_timeline
from touchpoints.profiles.traits import read_traits
from touchpoints.store.backend import Backend
from touchpoints.store.export import ISO_TIME as _ISO


@dataclass(frozen=True)
class TraitPrecedence:
    """Which value of a conflicting trait a profile shows (``[profiles]`` in config.toml)."""

    rule: str = "latest"  # or "source_priority"
    source_priority: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> TraitPrecedence:
        return cls(settings.trait_precedence, settings.source_priority)


def resolve(db: Backend, ref: str, rules: IdentityRules | None = None) -> str | None:
    """The customer id for ``ref``: a customer id, ``kind:value``, or a bare identifier value (tried as a
    userId, an email, a phone number, a loyalty id, an anonymousId, a record id)."""
    return find_customer(db, ref, rules)


def identifiers(db: Backend, customer_id: str) -> list[dict[str, Any]]:
    rows = db.execute(
        f"SELECT kind, value, source, {_ISO.format('first_seen')} FROM identities WHERE customer_id = ? "
        "ORDER BY first_seen, kind, value",
        [customer_id],
    )
    return [{"kind": k, "value": v, "source": s, "first_seen": f} for k, v, s, f in rows]


def profile(
    db: Backend,
    customer_id: str,
    *,
    precedence: TraitPrecedence | None = None,
    timeline_limit: int = DEFAULT_LIMIT,
    before: str | None = None,
) -> dict[str, Any] | None:
    """The unified profile of ``customer_id``, or None when no such customer exists.

    ``{customer_id, identifiers, traits, computed, consent, timeline, next_before}``, all read from the
    store now, so a merge or unmerge shows at once. ``timeline`` is the newest ``timeline_limit`` entries
    older than ``before``; ``next_before`` is the cursor for the next page (None on the last). Raises
    ``timeline.BadCursor`` for a bad ``before``.
    """
    from touchpoints.predictive.value import read_value  # the value scores' module, only when read

    ids = identifiers(db, customer_id)
    if not ids:
        return None
    rule = precedence or TraitPrecedence()
    events = CustomerEvents.of(db, customer_id)
    page = read_timeline(db, events, timeline_limit, before)
    return {
        "customer_id": customer_id,
        "identifiers": ids,
        "traits": read_traits(db, events, rule.rule, rule.source_priority),
        "computed": read_computed(db, events) | {"value": read_value(db, customer_id)},
        "consent": consent_state(db, events),
        "timeline": page["entries"],
        "next_before": page["next_before"],
    }
