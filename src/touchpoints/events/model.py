"""What is written to the spool and loaded into the store: a normalised event, or a quarantined item.

Both are msgspec structs, tagged so that one spool line decodes to either. Nested JSON (context,
properties, traits, integrations, extra) is carried as ``msgspec.Raw`` so it is never parsed twice.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

EVENT_TYPES = ("identify", "track", "page", "screen", "group", "alias")

EMPTY_OBJECT = msgspec.Raw(b"{}")


class StoredEvent(msgspec.Struct, tag_field="_k", tag="e", kw_only=True):
    """One accepted event, as stored: typed columns plus JSON for the nested parts."""

    message_id: str
    type: str
    source: str
    channel: str
    timestamp: datetime
    received_at: datetime
    user_id: str | None = None
    anonymous_id: str | None = None
    group_id: str | None = None
    previous_id: str | None = None
    event: str | None = None
    name: str | None = None
    category: str | None = None
    original_timestamp: str | None = None
    sent_at: str | None = None
    flags: list[str] = msgspec.field(default_factory=list)
    context: msgspec.Raw = EMPTY_OBJECT
    properties: msgspec.Raw = EMPTY_OBJECT
    traits: msgspec.Raw = EMPTY_OBJECT
    integrations: msgspec.Raw = EMPTY_OBJECT
    extra: msgspec.Raw = EMPTY_OBJECT
    ip: str | None = None


class QuarantinedItem(msgspec.Struct, tag_field="_k", tag="q", kw_only=True):
    """An event that could not be accepted, kept whole with the reason so it can be fixed and replayed.

    ``envelope`` holds what the event inherited from its request (batch ``sentAt``, ``context``,
    ``integrations``, the call type given by the path) so a replay normalises it exactly as it would have.
    """

    quarantine_id: str
    source: str
    origin: str
    received_at: datetime
    reason: str
    payload: str
    envelope: msgspec.Raw = EMPTY_OBJECT


SpoolRecord = StoredEvent | QuarantinedItem
