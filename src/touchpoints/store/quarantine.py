"""The quarantine: events that could not be accepted, kept whole with the reason, to fix and replay.

``replay`` runs held items through the same validation as live traffic (with today's rules, and
optionally a corrected payload); what passes is stored, deduplicated as always; what still fails stays held
with its new reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from touchpoints.events.validate import Envelope, EventLimits, InvalidEvent, normalize_event
from touchpoints.store.backend import Backend
from touchpoints.store.events import append_events

if TYPE_CHECKING:
    from touchpoints.identity.rules import IdentityRules

_COLUMNS = ("quarantine_id", "source", "origin", "received_at", "reason", "payload", "envelope", "status",
            "replayed_at", "message_id")  # fmt: skip


def list_items(
    db: Backend, *, include_replayed: bool = False, limit: int | None = None, source: str | None = None
) -> list[dict[str, Any]]:
    sql = f"SELECT {', '.join(_COLUMNS)} FROM quarantine WHERE true"
    params: list[Any] = []
    if not include_replayed:
        sql += " AND status = 'held'"
    if source is not None:
        sql += " AND source = ?"
        params.append(source)
    sql += " ORDER BY seq"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [dict(zip(_COLUMNS, row, strict=True)) for row in db.execute(sql, params)]


@dataclass
class ReplayOutcome:
    replayed: int = 0
    duplicates: int = 0
    still_invalid: int = 0
    reimport: int = 0  # rows of imported files: fixed in the file and imported again, not replayed here
    items: list[dict[str, Any]] = field(default_factory=list)


def replay(
    db: Backend,
    ids: Sequence[str] | None = None,
    *,
    payload: str | None = None,
    source_channels: Mapping[str, str | None] | None = None,
    limits: EventLimits = EventLimits(),  # noqa: B008 - frozen, shared default
    rules: IdentityRules | None = None,
) -> ReplayOutcome:
    """Replays held items (``ids``, or all held when None); ``payload`` replaces the item's payload."""
    held = {item["quarantine_id"]: item for item in list_items(db)}
    if ids:
        unknown = [i for i in ids if i not in held]
        if unknown:
            raise LookupError(
                f"no held quarantine item {', '.join(unknown)}; see `touchpoints quarantine list`"
            )
        chosen = [held[i] for i in ids]
    else:
        chosen = list(held.values())
    if payload is not None and len(chosen) != 1:
        raise ValueError("a corrected payload replaces exactly one item: name its quarantine id")
    imported = [item for item in chosen if _import_of(item) is not None]
    if ids and imported:
        origin = imported[0]["origin"]
        raise ValueError(
            f"{imported[0]['quarantine_id']} is {origin} of an imported file: fix that row in the file and run the "
            "same `touchpoints import` again; the fixed rows land and leave quarantine, nothing is stored twice"
        )
    outcome = ReplayOutcome()
    now = datetime.now(UTC)
    channels = source_channels or {}
    with db.transaction():
        for item in chosen:
            if _import_of(item) is not None:
                outcome.reimport += 1
                continue
            text = payload if payload is not None else item["payload"]
            try:
                event = normalize_event(
                    text.encode(),
                    source=item["source"],
                    received_at=item["received_at"],
                    envelope=Envelope.from_json(item["envelope"]),
                    source_channel=channels.get(item["source"]),
                    limits=limits,
                )
            except InvalidEvent as exc:
                outcome.still_invalid += 1
                # The reason is today's; the payload stays what the client sent, whatever was tried.
                db.execute(
                    "UPDATE quarantine SET reason = ? WHERE quarantine_id = ?",
                    [exc.reason, item["quarantine_id"]],
                )
                outcome.items.append({"quarantine_id": item["quarantine_id"], "status": "held",
                                      "reason": exc.reason})  # fmt: skip
                continue
            stored = append_events(db, [event], rules)
            status = "replayed" if stored.stored else "duplicate"
            outcome.replayed += stored.stored
            outcome.duplicates += stored.duplicates
            db.execute(
                "UPDATE quarantine SET status = 'replayed', replayed_at = ?, message_id = ? WHERE quarantine_id = ?",
                [now, event.message_id, item["quarantine_id"]],
            )
            outcome.items.append({"quarantine_id": item["quarantine_id"], "status": status,
                                  "message_id": event.message_id})  # fmt: skip
    return outcome


def _import_of(item: Mapping[str, Any]) -> Any:
    """The import details of an item held by an importer (a file row), else None."""
    envelope = item.get("envelope")
    if isinstance(envelope, str) and '"import"' in envelope:
        return json.loads(envelope).get("import")
    if isinstance(envelope, Mapping):
        return envelope.get("import")
    return None
