"""Traits: every value a customer's events said about them, the one a profile shows, and the others.

A trait is read from an identify call's ``traits`` and from ``context.traits`` of every event (how the
importers and many SDKs carry identifiers). Nested objects flatten to dotted names (``address.city``);
arrays stay whole values; null and empty-string values say nothing and are skipped. When sightings
disagree, the precedence decides which value is shown: ``latest`` (the most recent event wins), or
``source_priority`` (the first listed source or channel that has a value wins; the most recent among
equals). The other values seen are listed with where and when each was last seen, so a conflict shows.
"""

from __future__ import annotations

import json
from typing import Any

from touchpoints.profiles.events import CUSTOMER_EVENTS, CustomerEvents
from touchpoints.store.backend import Backend
from touchpoints.store.export import ISO_TIME as _ISO

MAX_OTHER_VALUES = 10
RECTIFICATION_SOURCE = "rectification"


# Leaves of a JSON object: not objects, not inside an array (an array is one value), not null or "".
_LEAF = "t.type NOT IN ('OBJECT', 'NULL') AND t.fullkey NOT LIKE '%[%' AND t.value::VARCHAR <> '\"\"'"
_NAME = "replace(substr(t.fullkey, 3), '\"', '')"


def _sightings(bag: str, where: str) -> str:
    return (
        f"SELECT ev.message_id, ev.timestamp AS seen_at, ev.received_at, ev.source, ev.channel, "
        f"{_NAME} AS name, t.value::VARCHAR AS value FROM ev, json_tree({bag}) t WHERE {where} AND {_LEAF}"
    )


def traits_sql(precedence: str, priority: tuple[str, ...]) -> tuple[str, list[Any]]:
    """SQL for the traits of the customer ``$1``: per trait, the sighting the precedence picks
    (``shown``), then each other value seen, at its latest sighting."""
    # A rectification (``touchpoints privacy rectify``) is the person's own correction: it wins over
    # every source, whatever the precedence, until a later rectification.
    rank = f"(source <> '{RECTIFICATION_SOURCE}'), "
    if precedence == "source_priority":
        # Unlisted sources rank after every listed one; then the most recent wins.
        rank += "coalesce(least(list_position($2::VARCHAR[], source), list_position($2::VARCHAR[], channel)), 1000000), "
        params: list[Any] = [list(priority)]
    else:
        params = []
    sql = f"""
    WITH ev AS ({CUSTOMER_EVENTS}),
    sightings AS (
        {_sightings("ev.traits", "ev.type = 'identify'")}
        UNION
        {_sightings("ev.context -> '$.traits'", "TRUE")}
    ),
    ranked AS (
        SELECT *,
               row_number() OVER (PARTITION BY name
                                  ORDER BY {rank}seen_at DESC, received_at DESC, message_id DESC) AS choice,
               row_number() OVER (PARTITION BY name, value
                                  ORDER BY seen_at DESC, received_at DESC, message_id DESC) AS recency
        FROM sightings
    ),
    shown AS (SELECT * FROM ranked WHERE choice = 1)
    SELECT name, value, source, channel, {_ISO.format("seen_at")}, message_id, TRUE AS shown, seen_at
    FROM shown
    UNION ALL
    SELECT r.name, r.value, r.source, r.channel, {_ISO.format("r.seen_at")}, r.message_id, FALSE, r.seen_at
    FROM ranked r JOIN shown s ON s.name = r.name AND s.value <> r.value
    WHERE r.recency = 1
    ORDER BY name, shown DESC, seen_at DESC, value
    """
    return sql, params


def read_traits(
    db: Backend, events: CustomerEvents, precedence: str = "latest", priority: tuple[str, ...] = ()
) -> dict[str, dict[str, Any]]:
    """``{name: {value, source, channel, at, message_id, others: [{value, source, channel, at}]}}``."""
    sql, params = traits_sql(precedence, priority)
    traits: dict[str, dict[str, Any]] = {}
    for name, value, source, channel, at, message_id, shown, _ in db.execute(
        sql, [events.message_ids, *params]
    ):
        seen = {"value": json.loads(value), "source": source, "channel": channel, "at": at}
        if shown:
            traits[name] = {**seen, "message_id": message_id, "others": []}
        else:
            others: list[dict[str, Any]] = traits[name]["others"]
            if len(others) < MAX_OTHER_VALUES:
                others.append(seen)
    return traits
