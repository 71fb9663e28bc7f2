"""The link endpoints on the collector: a click redirects (only to a registered destination) and is
recorded; the open pixel answers a 1x1 GIF and records the open."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import FastAPI, Query
from starlette.requests import Request
from starlette.responses import Response

from touchpoints import __version__
from touchpoints.collector.auth import basic_credentials
from touchpoints.collector.ingest import Collector, error
from touchpoints.links.registry import Link, LinkRegistry

SOURCE = "links"
# The smallest transparent GIF: 1x1, one colour, 43 bytes.
PIXEL = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)
_NO_STORE = {"cache-control": "no-store, max-age=0", "referrer-policy": "no-referrer"}
_EVENT = {"email": "Email Link Clicked", "qr": "QR Code Scanned"}


def _json(answer_status: int, code: str, message: str) -> Response:
    answer = error(answer_status, code, message)
    return Response(answer.body, answer.status, _NO_STORE, media_type="application/json")


def _with_click(url: str, click_id: str) -> str:
    """The destination with ``tp_click`` added, so the landing page's tracker can tie the visit to the
    click (identity resolution joins them)."""
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), ("tp_click", click_id)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _identity(u: str | None, a: str | None, hit_id: str) -> dict[str, str]:
    who: dict[str, str] = {}
    if u:
        who["userId"] = u[:200]
    if a:
        who["anonymousId"] = a[:200]
    elif not u:
        who["anonymousId"] = f"click:{hit_id}"  # nobody known: the hit is its own visitor
    return who


def _context(request: Request, channel: str, campaign: str) -> dict[str, Any]:
    context: dict[str, Any] = {
        "channel": channel,
        "library": {"name": "touchpoints-links", "version": __version__},
        "campaign": {"name": campaign, "source": channel, "medium": channel},
    }
    agent = request.headers.get("user-agent")
    if agent:
        context["userAgent"] = agent[:500]
    referrer = request.headers.get("referer")
    if referrer:
        context["page"] = {"referrer": referrer[:2000]}
    return context


def _relayed(
    request: Request, collector: Collector, t: str | None, m: str | None, default_id: str
) -> tuple[str, str] | Response:
    """(timestamp, messageId) of the hit. A caller with a write key (HTTP Basic), such as an email
    service relaying opens it saw earlier or a backfill, may give the time (``t``) and a messageId
    (``m``, so that a retry is not stored twice); anyone else's hit happens now, with a fresh id."""
    now = datetime.now(UTC).isoformat()
    if t is None and m is None:
        return now, default_id
    secret = basic_credentials(request.headers.get("authorization"))
    if secret is None or collector.keys.verify(secret, role="write") is None:
        # A live hit whose URL happens to carry t or m: the shopper still lands, the hit happens now.
        return now, default_id
    return (t or now)[:64], (m or default_id)[:200]


def add_link_routes(app: FastAPI, collector: Collector, registry: LinkRegistry) -> None:
    @app.api_route(
        "/l/{link_id}",
        methods=["GET", "HEAD"],
        tags=["links"],
        summary="Follow a registered link: records the click and redirects to the link's destination",
        response_class=Response,
        responses={
            302: {"description": "To the destination"},
            400: {"description": "A destination not registered for the campaign"},
            404: {"description": "Unknown link"},
        },
    )
    async def follow(
        request: Request,
        link_id: str,
        u: str | None = Query(None, description="The recipient's userId"),
        a: str | None = Query(None, description="The recipient's anonymousId"),
        e: str | None = Query(None, description="The email's id, for email links"),
        to: str | None = Query(None, description="Another destination registered for the campaign"),
        t: str | None = Query(None, description="Relays only (write key): when the click happened"),
        m: str | None = Query(None, description="Relays only (write key): the click's messageId"),
    ) -> Response:
        link: Link | None = registry.link(link_id)
        if link is None:
            return _json(
                404, "unknown_link", f"no link {link_id!r}; links are created with `touchpoints links create`"
            )
        destination = link.destination
        if to is not None:
            if not registry.allows(link.campaign, to):
                # Never an open redirect: only what was registered for this campaign.
                return _json(
                    400,
                    "destination_not_registered",
                    f"{to[:200]!r} is not a destination registered for campaign {link.campaign!r}; register it "
                    f"with `touchpoints links allow {link.campaign} URL`",
                )
            destination = to
        click_id = secrets.token_hex(8)
        relayed = _relayed(request, collector, t, m, f"lnk-{click_id}")
        if isinstance(relayed, Response):
            return relayed
        properties: dict[str, Any] = {
            "link_id": link.id,
            "link_url": destination,
            "campaign_id": link.campaign,
            "campaign_name": link.campaign,
        }
        if link.placement:
            properties["placement"] = link.placement
        if e:
            properties["email_id"] = e[:200]
        message = {
            "type": "track",
            "event": _EVENT.get(link.channel, "Link Clicked"),
            "messageId": relayed[1],
            "timestamp": relayed[0],
            "properties": properties,
            "context": _context(request, link.channel, link.campaign),
            **_identity(u, a, relayed[1]),
        }
        if request.method == "GET":  # a HEAD (a link checker, a mail scanner) is answered, not recorded
            await collector.record(
                message, SOURCE, link.channel, request.client.host if request.client else None
            )
        return Response(
            status_code=302, headers={"location": _with_click(destination, relayed[1]), **_NO_STORE}
        )

    @app.api_route(
        "/o/{campaign}.gif",
        methods=["GET", "HEAD"],
        tags=["links"],
        summary="The email open pixel: a 1x1 GIF that records an Email Opened for a registered campaign",
        response_class=Response,
    )
    async def pixel(
        request: Request,
        campaign: str,
        u: str | None = Query(None, description="The recipient's userId"),
        a: str | None = Query(None, description="The recipient's anonymousId"),
        e: str | None = Query(None, description="The email's id"),
        t: str | None = Query(None, description="Relays only (write key): when the email was opened"),
        m: str | None = Query(None, description="Relays only (write key): the open's messageId"),
    ) -> Response:
        # The image is always answered (a broken image in an inbox helps nobody); only opens of known
        # campaigns are recorded, so the pixel cannot be used to write arbitrary events.
        if request.method == "GET" and registry.campaign(campaign) is not None:
            open_id = secrets.token_hex(8)
            relayed = _relayed(request, collector, t, m, f"opn-{open_id}")
            if isinstance(relayed, Response):
                return relayed
            properties: dict[str, Any] = {"campaign_id": campaign, "campaign_name": campaign}
            if e:
                properties["email_id"] = e[:200]
            message = {
                "type": "track",
                "event": "Email Opened",
                "messageId": relayed[1],
                "timestamp": relayed[0],
                "properties": properties,
                "context": _context(request, "email", campaign),
                **_identity(u, a, relayed[1]),
            }
            await collector.record(message, SOURCE, "email", request.client.host if request.client else None)
        return Response(PIXEL, 200, _NO_STORE, media_type="image/gif")
