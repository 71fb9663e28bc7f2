"""User-Agent strings to browser, OS and device type, with uap-core's regexes (the ``ua-parser``
package). Each distinct string is parsed once and kept in the ``user_agents`` table."""

from __future__ import annotations

import re
from functools import lru_cache

from touchpoints.store.backend import Backend

_TABLET = re.compile(r"iPad|Tablet|Nexus (7|9|10)|SM-[TXP]\d|Kindle|Silk/|PlayBook", re.I)
_MOBILE = re.compile(r"Mobi|iPhone|iPod|Android.*Mobile|Windows Phone|Opera Mini", re.I)
_BOT = re.compile(r"bot\b|crawl|spider|slurp|HeadlessChrome|Lighthouse|PhantomJS|facebookexternalhit", re.I)
_DESKTOP_OS = ("Windows", "Mac OS X", "Linux", "Ubuntu", "Chrome OS", "Fedora", "FreeBSD", "macOS")


@lru_cache(maxsize=4096)
def parse_agent(agent: str) -> tuple[str | None, str | None, str | None, str | None, str | None, str]:
    """(browser, browser version, OS, OS version, device, device type) for one User-Agent string."""
    from ua_parser import parse  # its regexes load on first use, not when a CLI command starts

    result = parse(agent[:1000])
    browser = result.user_agent.family if result.user_agent else None
    version = result.user_agent.major if result.user_agent else None
    os_name = result.os.family if result.os else None
    os_version = result.os.major if result.os else None
    device = result.device.family if result.device else None
    if device == "Spider" or _BOT.search(agent):
        kind = "bot"
    elif _TABLET.search(agent) or "Tablet" in (device or ""):
        kind = "tablet"
    elif _MOBILE.search(agent):
        kind = "mobile"
    elif os_name in _DESKTOP_OS or (os_name or "").startswith("Windows"):
        kind = "desktop"
    elif os_name == "Android":
        kind = "tablet"  # Android without "Mobile" in the string is a tablet, by Google's convention
    else:
        kind = "other"
    return browser, version, os_name, os_version, device, kind


def record_new_agents(db: Backend, agents_sql: str) -> int:
    """Parses the User-Agents that ``agents_sql`` (a query with one text column) yields and the table
    does not have yet; returns how many were added. Call inside the loading transaction."""
    rows = db.execute(
        f"SELECT DISTINCT a FROM ({agents_sql}) t(a) WHERE a IS NOT NULL AND a <> '' "
        "AND a NOT IN (SELECT user_agent FROM user_agents)"
    )
    if not rows:
        return 0
    parsed = [(agent, *parse_agent(agent)) for (agent,) in rows]
    for row in parsed:  # distinct agents are few: thousands among millions of events
        db.execute("INSERT INTO user_agents VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", list(row))
    return len(parsed)
