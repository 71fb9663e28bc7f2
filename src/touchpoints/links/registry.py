"""Campaigns, their registered destinations, and the links that point at them.

A link is a short id for one destination of one campaign, with a channel: ``email`` (a link in an
email), ``qr`` (a code printed in a store or on a product), ``ads`` or ``partner`` (a banner elsewhere).
The collector redirects a link only to a destination registered for its campaign, so it can never be
used as an open redirect. The registry is ``links.json`` in the home, read by the server when it changes.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

LINK_CHANNELS = ("email", "qr", "ads", "partner", "social", "pos")
_CAMPAIGN_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


class LinkError(ValueError):
    """A link or campaign operation that cannot be done, with the reason."""


@dataclass(frozen=True)
class Link:
    id: str
    campaign: str
    destination: str
    channel: str
    placement: str | None = None
    created_at: str = ""

    @property
    def path(self) -> str:
        return f"/l/{self.id}"


@dataclass
class Campaign:
    name: str
    destinations: list[str] = field(default_factory=list)
    created_at: str = ""


def check_destination(url: str) -> str:
    """An absolute http(s) URL with a host, else ``LinkError``."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LinkError(f"destination {url!r} must be an absolute http:// or https:// URL")
    if parts.username or parts.password:
        raise LinkError(f"destination {url!r} must not carry a user name or password")
    return url.strip()


def check_campaign(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 80 or not set(name) <= _CAMPAIGN_CHARS:
        raise LinkError(f"campaign {name!r}: use 1-80 letters, digits, - _ or .")
    return name


class LinkRegistry:
    """The campaigns and links of one home."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._campaigns: dict[str, Campaign] = {}
        self._links: dict[str, Link] = {}

    def _reload(self) -> None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._stamp, self._campaigns, self._links = None, {}, {}
            return
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return
        data = json.loads(self.path.read_text(encoding="utf-8"))
        self._campaigns = {c["name"]: Campaign(**c) for c in data.get("campaigns", [])}
        self._links = {item["id"]: Link(**item) for item in data.get("links", [])}
        self._stamp = stamp

    def link(self, link_id: str) -> Link | None:
        with self._lock:
            self._reload()
            return self._links.get(link_id)

    def campaign(self, name: str) -> Campaign | None:
        with self._lock:
            self._reload()
            return self._campaigns.get(name)

    def links(self, campaign: str | None = None) -> list[Link]:
        with self._lock:
            self._reload()
            return [lk for lk in self._links.values() if campaign is None or lk.campaign == campaign]

    def campaigns(self) -> list[Campaign]:
        with self._lock:
            self._reload()
            return list(self._campaigns.values())

    def allows(self, campaign: str, destination: str) -> bool:
        """Whether ``destination`` is registered for ``campaign`` (exactly, as registered)."""
        found = self.campaign(campaign)
        return found is not None and destination in found.destinations

    def allow(self, campaign: str, destination: str) -> Campaign:
        """Registers a destination for a campaign (creating the campaign)."""
        name, url = check_campaign(campaign), check_destination(destination)
        with self._editing() as (campaigns, _links):
            found = campaigns.setdefault(name, Campaign(name, [], _now()))
            if url not in found.destinations:
                found.destinations.append(url)
            return found

    def create_link(
        self, campaign: str, destination: str, channel: str = "email", placement: str | None = None
    ) -> Link:
        """A new link to ``destination`` (registered for the campaign on the way)."""
        if channel not in LINK_CHANNELS:
            raise LinkError(f"channel {channel!r} is not one of {', '.join(LINK_CHANNELS)}")
        name, url = check_campaign(campaign), check_destination(destination)
        with self._editing() as (campaigns, links):
            found = campaigns.setdefault(name, Campaign(name, [], _now()))
            if url not in found.destinations:
                found.destinations.append(url)
            link_id = secrets.token_urlsafe(6)
            while link_id in links:
                link_id = secrets.token_urlsafe(6)
            link = Link(link_id, name, url, channel, placement, _now())
            links[link_id] = link
            return link

    @contextmanager
    def _editing(self) -> Iterator[tuple[dict[str, Campaign], dict[str, Link]]]:
        """Read-modify-write under a file lock, so two CLI processes never lose each other's links."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._stamp = None
            self._reload()
            campaigns, links = dict(self._campaigns), dict(self._links)
            yield campaigns, links
            tmp = self.path.with_suffix(".tmp")
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(
                    {
                        "campaigns": [asdict(c) for c in campaigns.values()],
                        "links": [asdict(lk) for lk in links.values()],
                    },
                    fh,
                    indent=2,
                )
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
            self._stamp = None
            self._reload()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
