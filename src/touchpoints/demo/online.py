"""The demo world's online visits as Segment-spec events: what analytics.js and the mobile SDKs send.

A web visit is page calls (``context.page`` with url, path, referrer, search and title; the landing page
carries ``context.campaign`` when the link was UTM-tagged) and the e-commerce spec's track calls; an app
visit is screen calls and the same track calls with the app's context (app, device, os). The identify
call of a sign-up or sign-in comes where it happens (before Checkout Started when the checkout asked for
it); every event after it carries the userId, and every event carries the device's anonymousId.

Each customer's events come from their own generator, seeded from the world's seed and their index, so
rendering is independent of order and the same seed gives the same events and messageIds.

``plan_hits`` lists the requests a customer's mail client and phone make to the link endpoints: the
open pixel, the e-mail's click link (with the userId, the device's anonymousId and the e-mail's id), the
QR codes in the stores.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote_plus, urlencode

from touchpoints.demo.catalog import (
    ANDROID_DEVICES,
    ANDROID_LIBRARY,
    APP,
    ARRIVALS,
    BY_SKU,
    CURRENCY,
    EMAIL_CAMPAIGNS,
    IOS_DEVICES,
    IOS_LIBRARY,
    PRODUCTS,
    SEARCHES,
    SHOP,
    SHOP_NAME,
    WEB_LIBRARIES,
    Product,
)
from touchpoints.demo.plan import uuid4
from touchpoints.demo.world import FUNNEL, Customer, Device, Visit, Visitor, World

Event = dict[str, Any]
_CONTENT_PAGES = (
    ("/", "Home"),
    ("/deals", "Deals"),
    ("/stores", "Find a store"),
    ("/blog/how-to-choose-a-tv", "How to choose a TV"),
    ("/blog/best-headphones-2026", "The best headphones of 2026"),
    ("/help/delivery", "Delivery and returns"),
)
_SCREENS = ("Search", "Product List", "Product", None, "Cart", "Checkout", "Order Confirmation")
_PATHS = ("/search", "/c/", "/p/", None, "/cart", "/checkout", "/checkout/complete")
# The campaign of Jane's search ad and of the review site's banner (story steps 1 and 2).
JANE_AD = {
    "source": "google",
    "medium": "cpc",
    "name": "autumn-tv-event",
    "term": "55 inch oled tv",
    "content": "oled-55-text-ad",
}
JANE_BANNER = {
    "source": "gadgetreview",
    "medium": "display",
    "name": "best-tvs-2026",
    "content": "oled-55-banner",
}
JANE_BANNER_REFERRER = "https://www.gadgetreview.example/reviews/best-oled-tvs-2026"


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _slug(category: str) -> str:
    return category.lower().replace(" ", "-")


def _product_props(product: Product, **extra: Any) -> dict[str, Any]:
    return {
        "product_id": product.sku,
        "sku": product.sku,
        "name": product.name,
        "category": product.category,
        "brand": "Example",
        "price": product.price,
        "currency": CURRENCY,
        "url": SHOP + product.path,
        **extra,
    }


class _Renderer:
    """Renders one owner's visits (a customer or an anonymous visitor)."""

    def __init__(self, seed: int, owner: str, user_id: str | None, traits: dict[str, Any] | None) -> None:
        self.rng = random.Random(f"{seed}:{owner}")
        # The choice made on the site's consent banner (its own stream, so the rest of the world is as it
        # was): everyone here allows analytics; most allow personalisation, over half marketing.
        choice = random.Random(f"{seed}:{owner}:consent")
        self.preferences = {
            "analytics": True,
            "personalisation": choice.random() < 0.8,
            "marketing": choice.random() < 0.55,
        }
        self.user_id = user_id
        self.traits = traits
        self.events: list[Event] = []
        self.story: dict[str, tuple[str, str]] = {}  # Jane's touchpoints: key -> (messageId, timestamp)

    def visit(self, visit: Visit, device: Device, signed_in: bool) -> None:
        """``signed_in``: the device already carries the userId when the visit starts."""
        rng = self.rng
        steps = self._steps(visit, device)
        # time each step backwards from the visit's last event
        gaps = [rng.randrange(8, 240) for _ in steps]
        t = visit.end - timedelta(seconds=sum(gaps[1:]))
        state = {"signed_in": signed_in, "referrer": "", "first": True}
        for (kind, payload), gap in zip(steps, [0, *gaps[1:]], strict=True):
            t += timedelta(seconds=gap)
            if kind == "identify":
                state["signed_in"] = True
                self._emit(t, device, {"type": "identify", "traits": dict(self.traits or {})}, visit, state)
                continue
            if kind == "page":
                path, title = payload
                self._page(t, device, path, title, visit, state)
            else:
                self._track(t, device, kind, payload, visit, state)

    # -- the shape of a visit ------------------------------------------------------------------------

    def _steps(self, visit: Visit, device: Device) -> list[tuple[str, Any]]:
        """The visit's pages and calls in order: ("page", (path, title)), ("identify", None) or
        (event name, properties). Where the sign-in goes: the app asks first, the web checkout asks
        before the checkout, a browsing visit signs in at the end."""
        steps = self._funnel_steps(visit)
        if not visit.identify or visit.signup or visit.story is not None:
            return steps
        login = [("page", ("/account/login", "Sign in")), ("identify", None)]
        if device.is_app:
            return login + steps
        checkout = next(
            (i for i, (name, _) in enumerate(steps) if name == "page" and _[0] == "/checkout"), None
        )
        if checkout is not None:
            return [
                *steps[:checkout],
                ("page", ("/account/login?next=/checkout", "Sign in")),
                ("identify", None),
                *steps[checkout:],
            ]
        return steps + login + [("page", ("/account", "Your account"))]

    def _funnel_steps(self, visit: Visit) -> list[tuple[str, Any]]:
        rng = self.rng
        product = BY_SKU[visit.sku]
        steps: list[tuple[str, Any]] = []
        if visit.story == "search-ad":
            return [("page", ("/c/tvs", "TVs"))]
        if visit.story == "phone-sign-in":
            return [
                ("page", ("/account/login", "Sign in")),
                ("identify", None),
                ("page", ("/account/products/register", "Register a product")),
            ]
        if visit.entry == 0:
            pages = list(_CONTENT_PAGES[: rng.randrange(1, 4)]) if not visit.signup else [_CONTENT_PAGES[0]]
            steps = [("page", page) for page in pages]
            if visit.signup:
                steps += [
                    ("page", ("/account/register", "Create your account")),
                    ("identify", None),
                    ("page", ("/account", "Your account")),
                ]
            return steps
        cart_id = uuid4(rng)
        query = rng.choice(SEARCHES[product.category])
        qty = visit.order.lines[0][1] if visit.order else 1
        listing = [p for p in PRODUCTS if p.category == product.category][:4]
        for step in range(visit.entry, visit.depth + 1):
            name = FUNNEL[step - 1]
            if step == 1:
                steps.append(("page", (f"/search?q={quote_plus(query)}", f"Search: {query}")))
                steps.append((name, {"query": query}))
            elif step == 2:
                steps.append(("page", (f"/c/{_slug(product.category)}", product.category)))
                products = [_product_props(p, position=i + 1) for i, p in enumerate(listing)]
                steps.append(
                    (
                        name,
                        {
                            "list_id": _slug(product.category),
                            "category": product.category,
                            "products": products,
                        },
                    )
                )
            elif step == 3:
                steps.append(("page", (product.path, product.name)))
                steps.append((name, _product_props(product)))
            elif step == 4:
                steps.append((name, _product_props(product, cart_id=cart_id, quantity=qty)))
            elif step == 5:
                steps.append(("page", ("/cart", "Your basket")))
                steps.append(
                    (name, {"cart_id": cart_id, "products": [_product_props(product, quantity=qty)]})
                )
            elif step == 6:
                steps.append(("page", ("/checkout", "Checkout")))
                total = round(product.price * qty, 2)
                checkout = {
                    "revenue": total,
                    "total": total,
                    "currency": CURRENCY,
                    "products": [_product_props(product, quantity=qty)],
                }
                if visit.order is not None:
                    checkout = {"order_id": visit.order.order_id, **checkout}
                steps.append((name, checkout))
            else:
                assert visit.order is not None
                order = visit.order
                steps.append(("page", ("/checkout/complete", "Thank you for your order")))
                steps.append(
                    (
                        name,
                        {
                            "order_id": order.order_id,
                            "checkout_id": cart_id,
                            "revenue": order.total,
                            "total": order.total,
                            "shipping": 0.0,
                            "tax": round(order.total / 6, 2),
                            "currency": CURRENCY,
                            "products": [_product_props(BY_SKU[s], quantity=q) for s, q in order.lines],
                        },
                    )
                )
        return steps

    # -- events ----------------------------------------------------------------------------------------

    def _campaign(self, visit: Visit) -> tuple[dict[str, str] | None, str]:
        """(context.campaign, referrer) of the landing page."""
        if visit.story == "search-ad":
            return dict(JANE_AD), "https://www.google.com/"
        if visit.story == "review-banner":
            return dict(JANE_BANNER), JANE_BANNER_REFERRER
        if visit.email_campaign is not None:
            campaign_id = EMAIL_CAMPAIGNS[visit.email_campaign][0]
            return {"source": "newsletter", "medium": "email", "name": campaign_id}, ""
        if visit.arrival is None:
            return None, ""
        _, source, medium, name, referrer = ARRIVALS[visit.arrival]
        if name is None:
            return None, referrer or ""
        return {"source": source or "", "medium": medium or "", "name": name}, referrer or ""

    def _base(self, t: datetime, device: Device, state: dict[str, Any]) -> Event:
        event: Event = {"messageId": uuid4(self.rng), "timestamp": iso(t), "anonymousId": device.anonymous_id}
        if state["signed_in"] and self.user_id:
            event["userId"] = self.user_id
        return event

    def _context(
        self, device: Device, visit: Visit, state: dict[str, Any], page: dict[str, str] | None
    ) -> Event:
        context: Event = {
            "ip": device.ip,
            "locale": "en-GB",
            "timezone": "Europe/London",
            "userAgent": device.user_agent,
        }
        if device.is_app:
            ios = device.kind == "ios"
            if ios:
                model, os_version = IOS_DEVICES[device.model]
                manufacturer = "Apple"
            else:
                model, manufacturer, os_version = ANDROID_DEVICES[device.model]
            context["library"] = dict(IOS_LIBRARY if ios else ANDROID_LIBRARY)
            context["app"] = dict(APP)
            context["device"] = {
                "id": device.device_id,
                "manufacturer": manufacturer,
                "model": model,
                "type": device.kind,
            }
            context["os"] = {"name": "iOS" if ios else "Android", "version": os_version}
            context["network"] = {"wifi": True}
        else:
            context["library"] = dict(WEB_LIBRARIES[device.library])
            context["consent"] = {"categoryPreferences": dict(self.preferences), "version": "banner-2026-09"}
            if page is not None:
                context["page"] = page
        if state.get("campaign") is not None and state.get("landing"):
            context["campaign"] = dict(state["campaign"])
        return context

    def _page(
        self, t: datetime, device: Device, path: str, title: str, visit: Visit, state: dict[str, Any]
    ) -> None:
        if device.is_app:
            screen = (
                title
                if not path.startswith(("/c/", "/p/", "/search"))
                else (
                    "Product List"
                    if path.startswith("/c/")
                    else "Product"
                    if path.startswith("/p/")
                    else "Search"
                )
            )
            state["landing"] = state["first"]
            if state["first"]:
                state["campaign"] = None
            state["first"] = False
            self._emit(
                t, device, {"type": "screen", "name": screen, "properties": {"name": screen}}, visit, state
            )
            return
        search = ""
        if state["first"]:
            campaign, referrer = self._campaign(visit)
            state["campaign"], state["referrer"], state["landing"] = campaign, referrer, True
            if campaign is not None:
                utm = {
                    "utm_source": campaign["source"],
                    "utm_medium": campaign["medium"],
                    "utm_campaign": campaign["name"],
                }
                if "term" in campaign:
                    utm["utm_term"] = campaign["term"]
                if "content" in campaign:
                    utm["utm_content"] = campaign["content"]
                if campaign["medium"] == "cpc":
                    utm["gclid"] = f"Cj0KCQjw{self.rng.getrandbits(64):016x}"
                search = "?" + "&".join(f"{k}={quote_plus(v)}" for k, v in utm.items())
        else:
            state["landing"] = False
        bare, _, own_query = path.partition("?")
        if own_query:
            search = "?" + own_query + ("&" + search[1:] if search else "")
        url = SHOP + bare + search
        page = {
            "path": bare,
            "referrer": state["referrer"],
            "search": search,
            "title": f"{title} | {SHOP_NAME}",
            "url": url,
        }
        state["first"] = False
        body: Event = {"type": "page", "name": title, "properties": dict(page)}
        self._emit(t, device, body, visit, state, page)
        state["referrer"] = url

    def _track(
        self,
        t: datetime,
        device: Device,
        name: str,
        props: dict[str, Any],
        visit: Visit,
        state: dict[str, Any],
    ) -> None:
        self._emit(
            t, device, {"type": "track", "event": name, "properties": props}, visit, state, state.get("page")
        )

    def _emit(
        self,
        t: datetime,
        device: Device,
        body: Event,
        visit: Visit,
        state: dict[str, Any],
        page: dict[str, str] | None = None,
    ) -> None:
        event = self._base(t, device, state)
        if page is not None:
            state["page"] = page
        event.update(body)
        event["context"] = self._context(device, visit, state, state.get("page"))
        if visit.story is not None and body["type"] in ("page", "track", "identify"):
            key = {"page": "page", "track": "product_viewed", "identify": "identify"}[body["type"]]
            self.story[f"{visit.story}:{key}"] = (event["messageId"], event["timestamp"])
        self.events.append(event)


def customer_traits(c: Customer) -> dict[str, Any]:
    record = c.crm
    assert record is not None
    traits: dict[str, Any] = {
        "email": record.email,
        "firstName": record.first_name,
        "lastName": record.last_name,
    }
    if c.social is not None:  # the handle the customer linked in their account settings
        platform, handle = c.social
        traits[platform] = handle
    return traits


def render_customer(world: World, c: Customer) -> tuple[list[Event], dict[str, tuple[str, str]]]:
    """The customer's online events in time order, and (for Jane) her story's events' messageIds and
    timestamps, by ``"<story>:<page|product_viewed|identify>"``."""
    r = _Renderer(world.seed, f"c{c.index}", c.user_id, customer_traits(c) if c.crm else None)
    signed: set[int] = set()
    for visit in sorted(c.visits, key=lambda v: v.end):
        r.visit(visit, c.devices[visit.device], visit.device in signed)
        if visit.identify:
            signed.add(visit.device)
    return r.events, r.story


def render_visitor(world: World, v: Visitor) -> list[Event]:
    r = _Renderer(world.seed, f"v{v.index}", None, None)
    for visit in v.visits:
        r.visit(visit, v.device, False)
    return r.events


_MAIL_AGENT = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"


@dataclass(frozen=True)
class Hit:
    """One GET to a link endpoint: ``path`` with its query, sent with ``user_agent``."""

    channel: str  # email | qr
    path: str
    user_agent: str


def plan_hits(world: World, links: dict[str, dict[str, str]]) -> list[Hit]:
    """Every e-mail open (the pixel), e-mail click and QR scan of the world, as the GETs that make them."""
    hits: list[Hit] = []
    for c in world.customers:
        for send_ in c.emails:
            campaign_id = EMAIL_CAMPAIGNS[send_.campaign][0]
            who = {"u": c.user_id} if c.user_id else {}
            device = c.devices[send_.click_device] if send_.click_device is not None else None
            if send_.opened_at is not None:
                agent = device.user_agent if device else _MAIL_AGENT
                # Relayed with the world's time and a stable id (the demo sends with its write key).
                relay = {"t": send_.opened_at.isoformat(), "m": f"opn-{send_.email_id}"}
                hits.append(
                    Hit(
                        "email",
                        f"/o/{campaign_id}.gif?{urlencode({**who, 'e': send_.email_id, **relay})}",
                        agent,
                    )
                )
            if send_.clicked_at is not None:
                query = {**who, **({"a": device.anonymous_id} if device else {}), "e": send_.email_id,
                         "t": send_.clicked_at.isoformat(), "m": f"lnk-{send_.email_id}"}  # fmt: skip
                link_id = links["email"][str(send_.campaign)]
                hits.append(
                    Hit(
                        "email",
                        f"/l/{link_id}?{urlencode(query)}",
                        device.user_agent if device else _MAIL_AGENT,
                    )
                )
        for number, scan in enumerate(c.qr_scans):
            phone = c.devices[scan.device]
            query = {"a": phone.anonymous_id, **({"u": c.user_id} if scan.signed_in and c.user_id else {}),
                     "t": scan.at.isoformat(), "m": f"qr-{c.person_id}-{number}"}  # fmt: skip
            link_id = links["qr"][f"{scan.store_id}/{scan.placement}"]
            hits.append(Hit("qr", f"/l/{link_id}?{urlencode(query)}", phone.user_agent))
    return hits


def online_events(
    world: World, by_channel: Counter[str], story: dict[str, tuple[str, str]]
) -> Iterator[Event]:
    """The world's online events, counted by channel on the way (app events carry ``context.app``)."""
    for c in world.customers:
        events, found = render_customer(world, c)
        story.update(found)
        for event in events:
            by_channel["app" if "app" in event["context"] else "web"] += 1
        yield from events
    for visitor in world.visitors:
        events = render_visitor(world, visitor)
        by_channel["web"] += len(events)
        yield from events
