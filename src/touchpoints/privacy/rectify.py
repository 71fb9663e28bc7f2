"""The right to rectification (GDPR article 16): correct a trait of a person.

A correction is stored as an ``identify`` event of source ``rectification`` (channel ``server``) on the
person's own userId (else anonymousId), carrying the corrected traits and, in ``context.rectification``,
who made it and why. It goes through the same door as every event, so what derives from traits follows
at once: the profile shows the corrected value over every source (whatever the trait precedence) and
lists the old one among the values seen; a corrected e-mail or phone joins the identity graph; the next
``identity resolve`` matches on it. An audit entry records the change (trait names, never values).

A wrong identifier that merged two people is undone with ``touchpoints identity unmerge --detach``.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import Any

import msgspec

from touchpoints.config import Settings
from touchpoints.events.validate import EventLimits, normalize_event
from touchpoints.privacy.audit import AuditLog
from touchpoints.privacy.erasure import NotFound
from touchpoints.privacy.subject import find
from touchpoints.profiles.traits import RECTIFICATION_SOURCE
from touchpoints.store.duckdb import open_store
from touchpoints.store.events import append_events


class RectifyError(ValueError):
    """A correction that cannot be made, with why."""


def parse_assignments(items: list[str]) -> dict[str, Any]:
    """``name=value`` pairs; a value that is JSON (a number, true, null, an object) is taken as such."""
    traits: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise RectifyError(f"{item!r}: write a correction as name=value, e.g. --set first_name=Jane")
        try:
            traits[name] = json.loads(value)
        except json.JSONDecodeError:
            traits[name] = value
    return traits


def rectify(
    settings: Settings, ref: str, traits: dict[str, Any], *, reason: str, actor: str
) -> dict[str, Any]:
    if not traits:
        raise RectifyError("nothing to correct: give at least one --set name=value")
    if not reason.strip():
        raise RectifyError("say why with --reason (it is kept with the correction and in the audit log)")
    with open_store(settings.store_path) as db:
        subject = find(db, ref, settings.identity)
        if subject is None:
            raise NotFound(f"no customer has the identifier {ref!r}; see `touchpoints profiles search`")
        ids = dict((k, v) for k, v, _ in reversed(subject.identifiers) if k in ("user_id", "anonymous_id"))
        if not ids:
            raise RectifyError(
                f"customer {subject.customer_id} has no userId or anonymousId to attach a correction to"
            )
        now = datetime.now(UTC)
        message = {
            "type": "identify",
            "messageId": "rect-" + secrets.token_hex(12),
            "timestamp": now.isoformat(),
            "traits": traits,
            "context": {"rectification": {"reason": reason, "by": actor}},
            **({"userId": ids["user_id"]} if "user_id" in ids else {"anonymousId": ids["anonymous_id"]}),
        }
        event = normalize_event(
            msgspec.json.encode(message),
            source=RECTIFICATION_SOURCE,
            received_at=now,
            source_channel="server",
            limits=EventLimits.from_settings(settings),
        )
        with db.transaction():
            result = append_events(db, [event], settings.identity)
    AuditLog(settings.audit_path).append(
        actor, "privacy.rectify", subject.customer_id, traits=sorted(traits),
        # The reason may name people; it is kept with the correction (erasable), not in the chain.
        message_id=event.message_id,
    )  # fmt: skip
    return {"customer_id": subject.customer_id, "traits": sorted(traits), "message_id": event.message_id,
            "stored": result.stored}  # fmt: skip
