"""Small hand-made stores for the trends, retention and paths tests, and a plain-Python reading of them.

The events go in the way a user's file does (``touchpoints import events`` of a CSV); a consent denial
goes in as a CRM contact (``touchpoints import contacts``). The expected figures are worked out from the
rows written here: who each event belongs to (``people``: an anonymous visitor who identified is the user
they became; a user who denied analytics is nobody) and its local date (``local_date``), never from what
the product answers.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import Home
from tests.sources.helpers import do_import

PROPERTIES = ("plan", "category")


@dataclass(frozen=True)
class Row:
    """One event: ``at`` is ISO 8601 UTC; ``event`` "Identify" is an identify call (user and anonymous id
    linked)."""

    id: str
    at: str
    event: str
    user: str | None = None
    anon: str | None = None
    channel: str = "web"
    props: dict[str, str] = field(default_factory=dict)

    @property
    def time(self) -> datetime:
        return datetime.fromisoformat(self.at.replace("Z", "+00:00")).astimezone(UTC)


def store(home: Home, rows: list[Row], denied: tuple[str, ...] = ()) -> None:
    """Imports ``rows`` as an events file, then a contact per user in ``denied`` who denies analytics."""
    path = home.path / "events.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(
            ["message_id", "timestamp", "event", "type", "channel", "user_id", "anonymous_id", *PROPERTIES]
        )
        for r in rows:
            identify = r.event == "Identify"
            out.writerow(
                [r.id, r.at, "" if identify else r.event, "identify" if identify else "track", r.channel,
                 r.user or "", r.anon or "", *(r.props.get(p, "") for p in PROPERTIES)]
            )  # fmt: skip
    result = do_import(home, "events", path, source="shop")
    assert result["imported"] == len(rows), result
    if denied:
        contacts = home.path / "contacts.csv"
        lines = ["record_id,user_id,consent_analytics,timestamp"]
        lines += [f"R-{user},{user},denied,2020-01-01T00:00:00Z" for user in denied]
        contacts.write_text("\n".join(lines) + "\n", encoding="utf-8")
        do_import(home, "contacts", contacts, source="crm")


def people(rows: list[Row], denied: tuple[str, ...] = ()) -> dict[str, str | None]:
    """Each event's person: its user, else the user its anonymous id identified as, else the anonymous
    visitor; None for a user who denied analytics."""
    became = {r.anon: r.user for r in rows if r.anon and r.user}
    found: dict[str, str | None] = {}
    for r in rows:
        person = r.user or became.get(r.anon or "") or f"anon:{r.anon}"
        found[r.id] = None if person in denied else person
    return found


def local_date(row: Row, tz: str) -> date:
    return row.time.astimezone(ZoneInfo(tz)).date()


# What pyspark 4.0 does on its own in this environment, not what Touchpoints does: its toPandas passes
# pandas 3 a deprecated ``copy`` keyword, and py4j leaves its gateway sockets for the garbage collector.
SPARK_WARNINGS = [
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in. <socket.socket:pytest.PytestUnraisableExceptionWarning"
    ),
]
