"""The event catalogue: every named event Touchpoints understands, with its channel and its properties.

Online commerce uses the names and properties of Segment's e-commerce spec; email uses Segment's email
spec. What Segment has no spec for (a till receipt, a support ticket, a survey answer, a review, a social
mention, loyalty points, a QR scan) is defined here, in the same style: Title Case object-action names,
snake_case properties. The importers produce exactly these events, the tracker and the links produce
their own, and ``docs/events.md`` is generated from this module (a test keeps the two in step).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class EventSpec:
    """One named ``track`` event."""

    name: str
    channel: str  # the channel it usually arrives through ("any": whichever the sender is)
    summary: str
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    produced_by: str = "any SDK"
    notes: dict[str, str] = field(default_factory=dict)


_PRODUCT = ("product_id", "sku", "name", "category", "brand", "variant", "price", "quantity", "url")
_ORDER = ("order_id", "revenue", "total", "currency", "products")

CATALOGUE: tuple[EventSpec, ...] = (
    # -- online commerce (Segment e-commerce spec v2) --
    EventSpec("Products Searched", "any", "The customer searched the catalogue.", ("query",)),
    EventSpec(
        "Product List Viewed",
        "any",
        "A category or list page was seen.",
        (),
        ("list_id", "category", "products"),
    ),
    EventSpec("Product Viewed", "any", "A product page was seen.", ("product_id",), _PRODUCT[1:]),
    EventSpec("Product Clicked", "any", "A product in a list was clicked.", ("product_id",), _PRODUCT[1:]),
    EventSpec(
        "Product Added", "any", "A product went into the cart.", ("product_id",), ("cart_id", *_PRODUCT[1:])
    ),
    EventSpec(
        "Product Removed", "any", "A product left the cart.", ("product_id",), ("cart_id", *_PRODUCT[1:])
    ),
    EventSpec("Cart Viewed", "any", "The cart was seen.", (), ("cart_id", "products")),
    EventSpec("Checkout Started", "any", "Checkout began.", (), _ORDER),
    EventSpec(
        "Payment Info Entered", "any", "Payment details were entered.", (), ("checkout_id", "order_id")
    ),
    EventSpec(
        "Order Completed",
        "any",
        "An order was paid: online, or a till receipt in a store (channel pos, imported as `transactions`).",
        ("order_id", "products"),
        ("revenue", "total", "currency", "store_id", "discount", "tax", "shipping", "coupon"),
        produced_by="any SDK; `touchpoints import transactions`",
        notes={
            "products": "a list of {product_id, sku, name, category, quantity, price, line_id}",
            "revenue": "sum of quantity x price over the lines",
        },
    ),
    EventSpec(
        "Order Refunded",
        "any",
        "An order was returned or cancelled (imported receipts whose every line has a negative quantity).",
        ("order_id",),
        ("products", "revenue", "total", "currency", "store_id"),
        produced_by="any SDK; `touchpoints import transactions`",
    ),
    # -- the browser tracker's heatmap signals --
    EventSpec(
        "Element Clicked",
        "web",
        "A click on the page, for heatmaps.",
        ("x", "y"),
        (
            "tag",
            "id",
            "classes",
            "text",
            "href",
            "selector",
            "page_width",
            "page_height",
            "viewport_width",
            "viewport_height",
        ),
        produced_by="tp.js",
        notes={"x": "pageX, relative to the page (not the viewport)", "y": "pageY, relative to the page"},
    ),
    EventSpec(
        "Page Scrolled",
        "web",
        "The deepest scroll reached on a page view crossed 25, 50, 75 or 100 %.",
        ("depth_percent",),
        ("page_height",),
        produced_by="tp.js",
    ),
    EventSpec(
        "Consent Preference Updated",
        "any",
        "The visitor made or changed a consent choice; `context.consent.categoryPreferences` holds it. Sent "
        "for a refusal too (with no page or device context), so the consent ledger can prove it.",
        (),
        (),
        produced_by="tp.js; Segment's consent wrapper sends it as Segment Consent Preference Updated",
        notes={"(any event)": "the ledger reads `context.consent` from every event, whatever its name"},
    ),
    # -- email (Segment email spec) and links --
    *(
        EventSpec(
            name,
            "email",
            summary,
            (),
            ("email_id", "email_subject", "campaign_id", "campaign_name", *extra),
            produced_by="`touchpoints import email`" + ("; the open pixel" if name == "Email Opened" else ""),
        )
        for name, summary, extra in (
            ("Email Sent", "An email was sent to the customer.", ()),
            ("Email Delivered", "The receiving server accepted it.", ()),
            ("Email Opened", "The customer opened it (the pixel loaded, or the sender reports it).", ()),
            ("Email Bounced", "It could not be delivered.", ("bounce_type",)),
            ("Email Marked as Spam", "The customer reported it as spam.", ()),
            ("Unsubscribed", "The customer unsubscribed from a list.", ("list_id",)),
        )
    ),
    EventSpec(
        "Email Link Clicked",
        "email",
        "A link in an email was followed.",
        ("link_url",),
        ("email_id", "campaign_id", "campaign_name", "link_id"),
        produced_by="`touchpoints import email`; the click-redirect links",
    ),
    EventSpec(
        "QR Code Scanned",
        "qr",
        "A QR code (a click-redirect link of its own channel) was scanned and followed.",
        ("link_id", "link_url"),
        ("campaign_id", "campaign_name", "placement", "store_id"),
        produced_by="the click-redirect links",
    ),
    EventSpec(
        "Link Clicked",
        "any",
        "A registered link (ads, partner sites, print) was followed.",
        ("link_id", "link_url"),
        ("campaign_id", "campaign_name", "placement"),
        produced_by="the click-redirect links",
    ),
    EventSpec(
        "Store Visited",
        "pos",
        "The customer was in a store (a loyalty card scanned at the door, a check-in, Wi-Fi sign-in).",
        ("store_id",),
        ("visit_id", "reason"),
        produced_by="`touchpoints import events`",
    ),
    # -- support --
    *(
        EventSpec(
            name,
            "support",
            summary,
            ("ticket_id",),
            ("status", "contact_channel", "subject", "category", "priority", "agent", "satisfaction"),
            produced_by="`touchpoints import tickets`",
            notes={
                "contact_channel": "how the customer reached support: phone, email, chat, store, social",
                "satisfaction": "1 to 5, when the customer rated the resolution",
            },
        )
        for name, summary in (
            ("Ticket Opened", "The customer contacted support."),
            ("Ticket Updated", "The ticket changed (a reply, an escalation)."),
            ("Ticket Resolved", "The ticket was closed."),
        )
    ),
    # -- voice of the customer --
    EventSpec(
        "Survey Responded",
        "survey",
        "A survey answer: NPS (0-10), CSAT (1-5), CES (1-7) and free text; at least one of them.",
        ("response_id",),
        ("survey_id", "nps", "csat", "ces", "comment"),
        produced_by="`touchpoints import surveys`",
    ),
    EventSpec(
        "Product Reviewed",
        "review",
        "A product review (Segment's name), on the shop or a review site.",
        ("review_id", "rating"),
        ("product_id", "title", "review_body", "site", "url"),
        produced_by="`touchpoints import reviews`",
        notes={"rating": "1 to 5"},
    ),
    EventSpec(
        "Social Mention",
        "social",
        "A public post that mentions the brand or a product.",
        ("post_id", "platform", "handle"),
        ("text", "url", "product_id", "likes", "shares", "media_url"),
        produced_by="`touchpoints import social`",
    ),
    # -- loyalty --
    *(
        EventSpec(
            name,
            "loyalty",
            summary,
            ("loyalty_id",),
            ("activity_id", "points", "balance", "tier", "store_id", "order_id"),
            produced_by="`touchpoints import loyalty`",
        )
        for name, summary in (
            ("Loyalty Program Joined", "The customer enrolled in the programme."),
            ("Loyalty Points Earned", "Points were added (a purchase, a promotion)."),
            ("Loyalty Points Redeemed", "Points were spent."),
            ("Loyalty Tier Changed", "The customer moved to another tier."),
        )
    ),
)

BY_NAME: dict[str, EventSpec] = {spec.name: spec for spec in CATALOGUE}

# Identify traits the importers set (Segment's reserved trait names; the address is an object).
CONTACT_TRAITS = (
    "record_id",
    "firstName",
    "lastName",
    "name",
    "email",
    "phone",
    "birthday",
    "customer_id",
    "loyalty_id",
    "address.street",
    "address.city",
    "address.postalCode",
    "address.state",
    "address.country",
)


def render_markdown() -> str:
    """The catalogue as the body of docs/events.md."""
    lines = [
        "| Event | Channel | Required properties | Optional properties | Sent by |",
        "|---|---|---|---|---|",
    ]
    for spec in CATALOGUE:
        required = ", ".join(f"`{p}`" for p in spec.required) or "none"
        optional = ", ".join(f"`{p}`" for p in spec.optional) or "none"
        lines.append(f"| **{spec.name}** | {spec.channel} | {required} | {optional} | {spec.produced_by} |")
    notes = [(spec.name, prop, text) for spec in CATALOGUE for prop, text in spec.notes.items()]
    if notes:
        lines += ["", "Notes on properties:", ""]
        seen: set[tuple[str, str]] = set()
        for name, prop, text in notes:
            if (prop, text) in seen:
                continue
            seen.add((prop, text))
            lines.append(f"- {name}, `{prop}`: {text}")
    return "\n".join(lines) + "\n"
