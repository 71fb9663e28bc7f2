"""The demo world: a seeded retailer's customers and everything they do in a year, as plain data.

``build_world(customers, seed)`` is pure: one ``random.Random(seed)``, no wall clock (the year ends at
``WORLD_END``), so the same seed gives the same world. It plans who the customers are and what happens
(visits to the shop and the app, orders online and in the stores, e-mails, store check-ins, QR scans,
tickets, surveys, reviews, social posts) with the latent truth that analytics should recover: who is who
across records, each customer's lifecycle (active, churned at a known date, new), attitude (promoter,
passive, detractor) and an exactly planted checkout drop-off. ``online`` renders the visits as
Segment-spec events, ``files`` writes the offline records, ``truth`` writes down what is known.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from touchpoints.demo.catalog import BY_SKU, WORLD_END
from touchpoints.demo.people import Contact

FUNNEL = (
    "Products Searched",
    "Product List Viewed",
    "Product Viewed",
    "Product Added",
    "Cart Viewed",
    "Checkout Started",
    "Order Completed",
)
CHECKOUT = FUNNEL.index("Checkout Started") + 1  # step numbers are 1-based
ORDERED = len(FUNNEL)
# The planted drop-off: this share of online Checkout Started (rounded to a whole count) never completes.
CHECKOUT_ABANDONMENT = 0.35
# A visit's events are minutes apart; two visits from one device are hours apart, so 30 minutes of
# inactivity (the usual session rule) recovers the visits exactly.
SESSION_GAP = timedelta(minutes=30)
MIN_VISIT_SPACING = timedelta(hours=3)
JANE_EMAIL = "jane.doe@example.com"
DAY = timedelta(days=1)


@dataclass(slots=True)
class Device:
    kind: str  # desktop | mobile (web browsers) | ios | android (the app)
    anonymous_id: str
    user_agent: str
    ip: str
    library: int = 0  # web: index into WEB_LIBRARIES
    model: int = 0  # app: index into IOS_DEVICES / ANDROID_DEVICES
    device_id: str = ""  # app: the vendor device id

    @property
    def is_app(self) -> bool:
        return self.kind in ("ios", "android")


@dataclass(slots=True)
class Order:
    order_id: str
    at: datetime
    channel: str  # web | app | pos
    lines: list[tuple[str, int]]  # (sku, quantity)
    store_id: str | None = None
    identifier: str = "user"  # how the till knew the customer: loyalty | email (pos), user (online)

    @property
    def total(self) -> float:
        return round(sum(BY_SKU[sku].price * qty for sku, qty in self.lines), 2)


@dataclass(slots=True)
class Visit:
    """One online session on one device: ``end`` is the time of its last event."""

    end: datetime
    device: int  # index into the owner's devices
    entry: int  # 0: no funnel step (content pages only); else the 1-based funnel step it starts at
    depth: int  # the deepest funnel step reached (0 for content only; ORDERED when it ordered)
    sku: str
    arrival: int | None = None  # index into ARRIVALS; None: direct
    email_campaign: int | None = None  # landed from this e-mail campaign's link
    identify: bool = False  # signs up or in during the visit (the device carries the userId from then)
    signup: bool = False
    order: Order | None = None
    story: str | None = None  # one of Jane's touchpoints


@dataclass(slots=True)
class EmailSend:
    campaign: int  # index into EMAIL_CAMPAIGNS
    email_id: str
    sent_at: datetime  # the campaign's send time, plus this recipient's place in the queue
    outcome: str  # delivered | bounced
    opened_at: datetime | None = None
    clicked_at: datetime | None = None
    click_device: int | None = None
    unsubscribed_at: datetime | None = None


@dataclass(slots=True)
class Ticket:
    ticket_id: str
    category: str
    subject: str
    contact_channel: str
    priority: str
    agent: str
    opened_at: datetime
    updated_at: datetime | None
    resolved_at: datetime | None
    satisfaction: int | None


@dataclass(slots=True)
class SurveyResponse:
    response_id: str
    at: datetime
    survey_id: str
    nps: int | None
    csat: int | None
    ces: int | None
    comment: str | None


@dataclass(slots=True)
class Review:
    review_id: str
    at: datetime
    sku: str
    rating: int
    site: str


@dataclass(slots=True)
class SocialPost:
    post_id: str
    at: datetime
    platform: str
    handle: str
    text: str
    sku: str | None
    likes: int
    shares: int


@dataclass(slots=True)
class StoreVisit:
    visit_id: str
    at: datetime
    store_id: str


@dataclass(slots=True)
class QrScan:
    at: datetime
    placement: int  # index into QR_PLACEMENTS
    store_id: str
    device: int
    signed_in: bool  # the phone's browser already carries the customer's userId


@dataclass(slots=True)
class Customer:
    index: int
    person_id: str
    crm: Contact | None  # the CRM record (customers with an online account)
    pos: Contact | None  # the store sign-up record (store customers; some online ones too: duplicates)
    origin: str  # online | store
    lifecycle: str  # active | churned | new
    attitude: str  # promoter | passive | detractor
    first_seen: datetime
    churn_date: datetime | None
    user_id: str | None
    loyalty_id: str | None
    loyalty_joined: datetime | None
    loyalty_joined_in: str | None  # online | store
    email: str | None  # the address e-mails go to (the CRM's, else the till's)
    subscribed: bool
    devices: list[Device] = field(default_factory=list)
    visits: list[Visit] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    emails: list[EmailSend] = field(default_factory=list)
    tickets: list[Ticket] = field(default_factory=list)
    surveys: list[SurveyResponse] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)
    social: tuple[str, str] | None = None  # (platform, handle)
    posts: list[SocialPost] = field(default_factory=list)
    store_visits: list[StoreVisit] = field(default_factory=list)
    qr_scans: list[QrScan] = field(default_factory=list)
    refunds: list[Order] = field(default_factory=list)
    duplicate: dict[str, Any] | None = None  # how the pos record differs from the crm one

    @property
    def first_name(self) -> str:
        record = self.crm or self.pos
        assert record is not None
        return record.first_name

    @property
    def last_name(self) -> str:
        record = self.crm or self.pos
        assert record is not None
        return record.last_name

    @property
    def city(self) -> str:
        record = self.crm or self.pos
        assert record is not None
        return record.city

    @property
    def life_end(self) -> datetime:
        return self.churn_date or WORLD_END

    def identified_from(self, device: int) -> datetime | None:
        """When the device first carried the customer's userId (its first identify), if ever."""
        times = [v.end for v in self.visits if v.device == device and v.identify]
        return min(times) if times else None


@dataclass(slots=True)
class Visitor:
    """Someone who browsed the shop anonymously and never became a customer."""

    index: int
    device: Device
    visits: list[Visit]


@dataclass
class World:
    seed: int
    customers: list[Customer]
    visitors: list[Visitor]
    anonymous_sales: list[Order]
    noise_posts: list[SocialPost]
    postcodes: list[str]
    hard_negatives: list[dict[str, Any]]
    abandoned_checkouts: int
    bad_rows: list[dict[str, object]] = field(default_factory=list)  # filled by ``files``

    @property
    def jane(self) -> Customer:
        return self.customers[0]


def build_world(customers: int = 2000, seed: int = 42) -> World:
    """The whole world for ``customers`` customers (Jane Doe is the first); same seed, same world."""
    from touchpoints.demo.plan import Planner

    return Planner(max(customers, 1), seed).world()
