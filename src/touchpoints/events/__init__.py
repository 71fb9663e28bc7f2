"""The event model: Segment-spec calls (identify, track, page, screen, group, alias) and the batch envelope.

Owns validation and normalisation of one inbound event into a ``StoredEvent`` (``validate``), the clock-skew
correction of timestamps (``clock``) and the channel an event came through (``channel``). Imports nothing
from the rest of Touchpoints except ``config``; every path into the store goes through here.
"""

from touchpoints.events.channel import CHANNELS, ContextSignals, infer_channel
from touchpoints.events.clock import correct_timestamp, parse_time
from touchpoints.events.model import EVENT_TYPES, QuarantinedItem, StoredEvent
from touchpoints.events.validate import EventLimits, InvalidEvent, normalize_event

__all__ = [
    "CHANNELS",
    "EVENT_TYPES",
    "ContextSignals",
    "EventLimits",
    "InvalidEvent",
    "QuarantinedItem",
    "StoredEvent",
    "correct_timestamp",
    "infer_channel",
    "normalize_event",
    "parse_time",
]
