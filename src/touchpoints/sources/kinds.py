"""What each import kind expects of a file, and which event a row becomes.

A kind lists its fields (the column names a file has after ``--map``), their types and which are
required; ``key`` names the fields that identify a row across re-imports (a row missing any of them is
identified by its whole content). ``event`` is an SQL expression over the typed fields (``v_<field>``)
giving the event name; ``properties`` maps each property to its field. Transactions, contacts and
enrichment have their own shape and are handled in ``importer``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    name: str
    type: str = "text"  # text | number | integer | timestamp | date
    required: bool = False
    choices: tuple[str, ...] = ()  # allowed values (case-insensitive), for text fields
    low: float | None = None  # allowed range, for number and integer fields
    high: float | None = None
    aliases: dict[str, str] | None = None  # accepted spellings of a choice -> the choice


# Customer identifiers any event-producing kind may carry; identity resolution (issue 4) reads them from
# context.traits.
IDENTIFIERS = (
    Field("user_id"),
    Field("anonymous_id"),
    Field("customer_id"),
    Field("email"),
    Field("phone"),
    Field("loyalty_id"),
)
TIMESTAMP = Field("timestamp", "timestamp", required=True)


@dataclass(frozen=True)
class Kind:
    name: str
    channel: str
    summary: str
    fields: tuple[Field, ...]
    key: tuple[str, ...] = ()
    event: str = ""  # SQL over v_<field>
    properties: tuple[tuple[str, str], ...] = ()  # (property name, field name)
    # SQL over v_<field> that is true when the row is acceptable as a whole, and the reason when not
    row_rule: tuple[str, str] | None = None
    # SQL giving the anonymous id of a row with no customer identifier
    anonymous: str = ""
    # The row's content is part of its identity: a changed record imported again is a new event.
    key_includes_content: bool = False

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.required)


_EMAIL_STATUS = {
    "sent": "Email Sent",
    "delivered": "Email Delivered",
    "opened": "Email Opened",
    "clicked": "Email Link Clicked",
    "bounced": "Email Bounced",
    "unsubscribed": "Unsubscribed",
    "spam": "Email Marked as Spam",
}
_LOYALTY_ACTIVITY = {
    "enrolled": "Loyalty Program Joined",
    "earned": "Loyalty Points Earned",
    "redeemed": "Loyalty Points Redeemed",
    "tier_changed": "Loyalty Tier Changed",
}
_TICKET_STATUS = {"opened": "Ticket Opened", "updated": "Ticket Updated", "resolved": "Ticket Resolved"}


# A contact's consent per purpose, as a CRM or a paper form holds it: recorded in the consent ledger with
# the import as its evidence. An empty cell says nothing.
CONSENT_PURPOSES = ("analytics", "marketing", "personalisation", "sale_sharing")
_CONSENT_ALIASES = {
    "yes": "granted", "y": "granted", "true": "granted", "1": "granted", "opt-in": "granted", "opted in": "granted",
    "no": "denied", "n": "denied", "false": "denied", "0": "denied", "opt-out": "denied", "opted out": "denied",
}  # fmt: skip
CONSENT_FIELDS = tuple(
    Field(f"consent_{p}", choices=("granted", "denied", "withdrawn"), aliases=_CONSENT_ALIASES)
    for p in CONSENT_PURPOSES
)


def _case(field: str, mapping: dict[str, str]) -> str:
    whens = " ".join(f"WHEN '{value}' THEN '{name}'" for value, name in mapping.items())
    return f"CASE v_{field} {whens} END"


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind(
            "events",
            "other",
            "Any events: one per row; user_id or anonymous_id (or an identifier), event, timestamp; "
            "every other column becomes a property.",
            (
                TIMESTAMP,
                Field("event"),
                Field("type", choices=("track", "page", "screen", "identify")),
                Field("message_id"),
                Field("name"),
                Field("channel"),
                *IDENTIFIERS,
            ),
            key=("message_id",),
        ),
        Kind(
            "transactions",
            "pos",
            "Till receipts or online orders, one row per line; the lines of an order become one Order "
            "Completed event (Order Refunded when every quantity is negative). A line with no customer "
            "identifier is an anonymous sale, kept.",
            (
                Field("order_id", required=True),
                TIMESTAMP,
                Field("sku", required=True),
                Field("quantity", "number", required=True),
                Field("unit_price", "number", required=True),
                Field("line_id"),
                Field("product_name"),
                Field("category"),
                Field("store_id"),
                Field("currency"),
                Field("channel"),
                *IDENTIFIERS,
            ),
            key=("order_id",),
        ),
        Kind(
            "contacts",
            "other",
            "CRM or store customer records; each becomes an identify call with the record's traits.",
            (
                Field("record_id", required=True),
                Field("first_name"),
                Field("last_name"),
                Field("address"),
                Field("city"),
                Field("postcode"),
                Field("state"),
                Field("country"),
                Field("dob", "date"),
                Field("timestamp", "timestamp"),
                Field("channel"),
                *CONSENT_FIELDS,
                *IDENTIFIERS,
            ),
            key=("record_id",),
            key_includes_content=True,
        ),
        Kind(
            "tickets",
            "support",
            "Support tickets, one row per status change (opened, updated, resolved).",
            (
                Field("ticket_id", required=True),
                TIMESTAMP,
                Field(
                    "status",
                    required=True,
                    choices=tuple(_TICKET_STATUS),
                    aliases={"open": "opened", "new": "opened", "closed": "resolved", "solved": "resolved"},
                ),
                Field("contact_channel"),
                Field("subject"),
                Field("category"),
                Field("priority"),
                Field("agent"),
                Field("satisfaction", "integer", low=1, high=5),
                *IDENTIFIERS,
            ),
            key=("ticket_id", "status", "timestamp"),
            event=_case("status", _TICKET_STATUS),
            properties=(
                ("ticket_id", "ticket_id"),
                ("status", "status"),
                ("contact_channel", "contact_channel"),
                ("subject", "subject"),
                ("category", "category"),
                ("priority", "priority"),
                ("agent", "agent"),
                ("satisfaction", "satisfaction"),
            ),
        ),
        Kind(
            "surveys",
            "survey",
            "Survey answers: NPS 0-10, CSAT 1-5, CES 1-7 and a comment; at least one of them.",
            (
                Field("response_id", required=True),
                TIMESTAMP,
                Field("survey_id"),
                Field("nps", "integer", low=0, high=10),
                Field("csat", "integer", low=1, high=5),
                Field("ces", "integer", low=1, high=7),
                Field("comment"),
                *IDENTIFIERS,
            ),
            key=("response_id",),
            event="'Survey Responded'",
            properties=(
                ("response_id", "response_id"),
                ("survey_id", "survey_id"),
                ("nps", "nps"),
                ("csat", "csat"),
                ("ces", "ces"),
                ("comment", "comment"),
            ),
            row_rule=(
                "coalesce(v_nps::VARCHAR, v_csat::VARCHAR, v_ces::VARCHAR, v_comment) IS NOT NULL",
                "the response has no answer: nps, csat, ces and comment are all empty",
            ),
        ),
        Kind(
            "reviews",
            "review",
            "Product reviews, on the shop or a review site: a rating 1-5 and text.",
            (
                Field("review_id", required=True),
                TIMESTAMP,
                Field("rating", "integer", required=True, low=1, high=5),
                Field("sku"),
                Field("title"),
                Field("text"),
                Field("site"),
                Field("url"),
                Field("author"),
                *IDENTIFIERS,
            ),
            key=("review_id",),
            event="'Product Reviewed'",
            properties=(
                ("review_id", "review_id"),
                ("rating", "rating"),
                ("product_id", "sku"),
                ("title", "title"),
                ("review_body", "text"),
                ("site", "site"),
                ("url", "url"),
                ("author", "author"),
            ),
        ),
        Kind(
            "social",
            "social",
            "Social media posts that mention the brand: platform, author handle, text.",
            (
                Field("post_id", required=True),
                TIMESTAMP,
                Field("platform", required=True),
                Field("handle", required=True),
                Field("text"),
                Field("url"),
                Field("sku"),
                Field("likes", "integer", low=0),
                Field("shares", "integer", low=0),
                Field("media_url"),
                *IDENTIFIERS,
            ),
            key=("platform", "post_id"),
            event="'Social Mention'",
            properties=(
                ("post_id", "post_id"),
                ("platform", "platform"),
                ("handle", "handle"),
                ("text", "text"),
                ("url", "url"),
                ("product_id", "sku"),
                ("likes", "likes"),
                ("shares", "shares"),
                ("media_url", "media_url"),
            ),
            anonymous="'social:' || lower(v_platform) || ':' || lower(v_handle)",
        ),
        Kind(
            "loyalty",
            "loyalty",
            "Loyalty programme activity: enrolled, earned, redeemed, tier_changed.",
            (
                Field("loyalty_id", required=True),
                TIMESTAMP,
                Field(
                    "activity",
                    required=True,
                    choices=tuple(_LOYALTY_ACTIVITY),
                    aliases={
                        "enroll": "enrolled",
                        "joined": "enrolled",
                        "earn": "earned",
                        "redeem": "redeemed",
                        "tier": "tier_changed",
                    },
                ),
                Field("activity_id"),
                Field("points", "integer"),
                Field("balance", "integer"),
                Field("tier"),
                Field("store_id"),
                Field("order_id"),
                *(f for f in IDENTIFIERS if f.name != "loyalty_id"),
            ),
            key=("activity_id",),
            event=_case("activity", _LOYALTY_ACTIVITY),
            properties=(
                ("loyalty_id", "loyalty_id"),
                ("activity_id", "activity_id"),
                ("points", "points"),
                ("balance", "balance"),
                ("tier", "tier"),
                ("store_id", "store_id"),
                ("order_id", "order_id"),
            ),
        ),
        Kind(
            "email",
            "email",
            "Email activity exported from the sending service: sent, delivered, opened, clicked, bounced, "
            "unsubscribed, spam.",
            (
                Field("email", required=True),
                TIMESTAMP,
                Field(
                    "status",
                    required=True,
                    choices=tuple(_EMAIL_STATUS),
                    aliases={
                        "open": "opened",
                        "click": "clicked",
                        "bounce": "bounced",
                        "unsubscribe": "unsubscribed",
                        "delivery": "delivered",
                        "send": "sent",
                        "complaint": "spam",
                    },
                ),
                Field("email_id"),
                Field("campaign_id"),
                Field("campaign_name"),
                Field("subject"),
                Field("url"),
                Field("bounce_type"),
                *(f for f in IDENTIFIERS if f.name != "email"),
            ),
            key=("email", "email_id", "status", "timestamp"),
            event=_case("status", _EMAIL_STATUS),
            properties=(
                ("email_id", "email_id"),
                ("campaign_id", "campaign_id"),
                ("campaign_name", "campaign_name"),
                ("email_subject", "subject"),
                ("link_url", "url"),
                ("bounce_type", "bounce_type"),
            ),
        ),
        Kind(
            "enrichment",
            "",
            "A table keyed by a trait (postcode to census band, company to industry): bought or partner "
            "data, joined to profiles by that trait. Name the key column with --key.",
            (),
        ),
    )
}


def render_markdown() -> str:
    """The import kinds as a table, for docs/events.md."""
    lines = ["| Kind | Channel | Required columns | Optional columns | Becomes |", "|---|---|---|---|---|"]
    becomes = {
        "events": "the row's `event` (or its `type`)",
        "transactions": "Order Completed / Order Refunded, one per order",
        "contacts": "an identify call with the record's traits",
        "enrichment": "rows of the `enrichment` table, no events",
    }
    for kind in KINDS.values():
        required = ", ".join(f"`{f.name}`" for f in kind.fields if f.required) or (
            "`--key COLUMN`" if kind.name == "enrichment" else "none"
        )
        optional = ", ".join(f"`{f.name}`" for f in kind.fields if not f.required) or "every other column"
        target = becomes.get(kind.name) or ", ".join(sorted(set(_EVENT_NAMES.get(kind.name, ()))))
        lines.append(f"| `{kind.name}` | {kind.channel or 'none'} | {required} | {optional} | {target} |")
    return "\n".join(lines) + "\n"


_EVENT_NAMES: dict[str, tuple[str, ...]] = {
    "tickets": tuple(_TICKET_STATUS.values()),
    "surveys": ("Survey Responded",),
    "reviews": ("Product Reviewed",),
    "social": ("Social Mention",),
    "loyalty": tuple(_LOYALTY_ACTIVITY.values()),
    "email": tuple(_EMAIL_STATUS.values()),
}
