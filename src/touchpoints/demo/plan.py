"""How the demo world is planned: one seeded generator walks through the customers in order.

For each customer: who they are (a namesake or a household member of an earlier one, sometimes), where
they come from (an online account, or a sign-up at a till), their lifecycle and attitude, their devices,
orders, visits, e-mails, store check-ins, QR scans, tickets, surveys, reviews and posts. Then, across
the world: the abandoned checkouts (exactly enough for the planted drop-off), who signs in where, the
anonymous visitors and walk-in sales. Jane Doe's story is written out by hand.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from touchpoints.demo import people
from touchpoints.demo.catalog import (
    ACCESSORIES,
    AGENTS,
    ANDROID_DEVICES,
    ARRIVALS,
    BY_SKU,
    DESKTOP_AGENTS,
    EMAIL_CAMPAIGNS,
    IOS_DEVICES,
    IP_PREFIXES,
    MOBILE_AGENTS,
    NOISE_POSTS,
    PRODUCTS,
    QR_PLACEMENTS,
    SOCIAL_PLATFORMS,
    SOCIAL_TEXT,
    STORE_OF_CITY,
    STORES,
    SURVEY_COMMENTS,
    TICKET_TOPICS,
    WORLD_END,
    WORLD_START,
)
from touchpoints.demo.people import Contact
from touchpoints.demo.world import (
    CHECKOUT,
    CHECKOUT_ABANDONMENT,
    DAY,
    JANE_EMAIL,
    MIN_VISIT_SPACING,
    ORDERED,
    Customer,
    Device,
    EmailSend,
    Order,
    QrScan,
    Review,
    SocialPost,
    StoreVisit,
    SurveyResponse,
    Ticket,
    Visit,
    Visitor,
    World,
)

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
_ARRIVALS = range(len(ARRIVALS))
_ARRIVAL_WEIGHTS = list(itertools.accumulate(a[0] for a in ARRIVALS))


def uuid4(rng: random.Random) -> str:
    """A version-4 UUID from the seeded generator (``uuid.uuid4`` would use the OS's randomness)."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:]}"


def poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    """A time in [start, end), whole seconds, moved into waking hours (08:00-22:59) when it can be."""
    span = int((end - start).total_seconds())
    if span <= 1:
        return start.replace(microsecond=0)
    t = (start + timedelta(seconds=rng.randrange(span))).replace(microsecond=0)
    if t.hour < 8:
        moved = t.replace(hour=rng.randrange(8, 23))
        if start <= moved < end:
            t = moved
    return t


def store_hours(rng: random.Random, start: datetime, end: datetime) -> datetime:
    """A time in [start, end) during opening hours (09:00-18:59 UTC) when the span has any: never in
    the night, so never in the hour the clocks go back (a till's local time would be ambiguous)."""
    t = between(rng, start, end)
    hour = rng.randrange(9, 19)
    for day in (0, -1, 1):
        moved = t.replace(hour=hour) + timedelta(days=day)
        if start <= moved < end:
            return moved
    return t


# When the clocks went back in the stores' time zone: a till's local time in this window is ambiguous.
_CLOCKS_BACK = (
    datetime(2026, 10, 25, 0, 0, tzinfo=WORLD_END.tzinfo),
    datetime(2026, 10, 25, 2, 0, tzinfo=WORLD_END.tzinfo),
)


def till_time(t: datetime) -> datetime:
    """``t``, or two hours later when a till's local time for it would be ambiguous (the receipts are
    written in local time without an offset, and the truth must be exact)."""
    return t + timedelta(hours=2) if _CLOCKS_BACK[0] <= t < _CLOCKS_BACK[1] else t


def make_device(rng: random.Random, kind: str) -> Device:
    ip = f"{rng.choice(IP_PREFIXES)}{rng.randrange(1, 255)}"
    if kind in ("desktop", "mobile"):
        agents = DESKTOP_AGENTS if kind == "desktop" else MOBILE_AGENTS
        return Device(kind, uuid4(rng), rng.choice(agents), ip, library=int(rng.random() < 0.25))
    models = IOS_DEVICES if kind == "ios" else ANDROID_DEVICES
    agent = f"ExampleElectronics/3.4.1 ({'iOS' if kind == 'ios' else 'Android'})"
    return Device(kind, uuid4(rng), agent, ip, model=rng.randrange(len(models)), device_id=uuid4(rng).upper())


def browse_shape(rng: random.Random, landing: bool = False) -> tuple[int, int]:
    """(entry, depth) of a visit that stops before checkout: most visitors browse and leave."""
    if not landing and rng.random() < 0.3:
        return 0, 0
    entry = 3 if landing else rng.choices((1, 2, 3), weights=(40, 30, 30))[0]
    depth = entry
    for step, chance in ((2, 0.7), (3, 0.75), (4, 0.35), (5, 0.6)):
        if step <= depth:
            continue
        if rng.random() >= chance:
            break
        depth = step
    return entry, depth


class Planner:
    """Builds the world customer by customer with one generator; its counters keep the ids unique."""

    def __init__(self, customers: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.n = customers
        self.seed = seed
        self.emails: set[str] = {JANE_EMAIL}
        self.phones: set[str] = {"+447700900123"}
        self.loyalty_ids: set[str] = {"LC10000001"}
        self.postcodes: dict[str, list[str]] = {"N7": ["N7 3QD"]}
        self.seq: dict[str, int] = {}
        self.hard_negatives: list[dict[str, Any]] = []
        self.customers: list[Customer] = []
        self.signup_store: dict[int, str] = {}  # store customers: where they signed up

    def next(self, prefix: str, width: int = 6) -> str:
        self.seq[prefix] = n = self.seq.get(prefix, 0) + 1
        return f"{prefix}{n:0{width}d}"

    def loyalty_id(self) -> str:
        while True:
            lid = f"LC{self.rng.randrange(10_000_000, 100_000_000)}"
            if lid not in self.loyalty_ids:
                self.loyalty_ids.add(lid)
                return lid

    def store_order_id(self, store_id: str) -> str:
        return self.next(f"S{store_id[-3:]}-")

    # -- the world ------------------------------------------------------------------------------------

    def world(self) -> World:
        self.customers.append(self.jane())
        for index in range(1, self.n):
            self.customers.append(self.customer(index))
        abandoned = self.plant_abandoned_checkouts()
        for customer in self.customers:
            self.sign_ins(customer)
            self.scans_signed_in(customer)
            customer.visits.sort(key=lambda v: v.end)
        visitors = [self.visitor(i) for i in range(self.n // 4)]
        sales = [self.walk_in_sale() for _ in range(max(self.n // 5, 3))]
        noise = [self.noise_post() for _ in range(max(self.n * 3 // 100, 2))]
        postcodes = sorted(
            {r.postcode.upper().replace(" ", "") for c in self.customers for r in (c.crm, c.pos) if r}
        )
        canonical = {p.replace(" ", ""): p for pool in self.postcodes.values() for p in pool}
        return World(
            seed=self.seed,
            customers=self.customers,
            visitors=visitors,
            anonymous_sales=sales,
            noise_posts=noise,
            postcodes=[canonical[p] for p in postcodes],
            hard_negatives=self.hard_negatives,
            abandoned_checkouts=abandoned,
        )

    # -- who ----------------------------------------------------------------------------------------------

    def identity(self, index: int) -> Contact:
        rng = self.rng
        first, last = people.pick_name(rng)
        street, city, postcode = people.pick_place(rng, self.postcodes)
        dob = people.pick_dob(rng)
        known = len(self.customers) > 1  # Jane (customer 0) has no namesake
        roll = rng.random()
        if known and roll < 0.03:  # a namesake: another person with the same name
            other = self.customers[rng.randrange(1, len(self.customers))]
            first, last = other.first_name, other.last_name
            shared = ["first_name", "last_name"]
            if rng.random() < 0.5:
                home = other.city
                for _ in range(50):
                    street, city, postcode = people.pick_place(rng, self.postcodes)
                    if city == home:
                        shared.append("city")
                        break
            self.hard_negatives.append({"kind": "namesake", "people": [other.index, index], "shared": shared})
        elif known and roll < 0.06:  # the same household: surname and address, another person
            other = self.customers[rng.randrange(1, len(self.customers))]
            record = other.crm or other.pos
            assert record is not None
            last, street, city, postcode = record.last_name, record.address, record.city, record.postcode
            first = people.pick_first_name_other_than(rng, record.first_name)
            shared = ["last_name", "address", "city", "postcode"]
            if record.dob is not None and rng.random() < 0.15:  # twins
                dob = record.dob
                shared.append("dob")
            self.hard_negatives.append(
                {"kind": "household", "people": [other.index, index], "shared": shared}
            )
        phone = people.pick_phone(rng, self.phones)
        email = people.make_email(rng, first, last, self.emails)
        return Contact("", first, last, email, phone, street, city, postcode, dob)

    def customer(self, index: int) -> Customer:
        rng = self.rng
        contact = self.identity(index)
        origin = "online" if rng.random() < 0.65 else "store"
        lifecycle = rng.choices(("active", "churned", "new"), weights=(60, 20, 20))[0]
        churn_date = None
        if lifecycle == "active":
            first_seen = between(rng, WORLD_START, WORLD_END - 75 * DAY)
        elif lifecycle == "new":
            first_seen = between(rng, WORLD_END - 60 * DAY, WORLD_END - 5 * DAY)
        else:
            first_seen = between(rng, WORLD_START, WORLD_START + 180 * DAY)
            churn_date = between(rng, first_seen + 40 * DAY, WORLD_END - 100 * DAY)
        attitude_weights = (25, 30, 45) if lifecycle == "churned" else (50, 30, 20)
        attitude = rng.choices(("promoter", "passive", "detractor"), weights=attitude_weights)[0]
        c = Customer(
            index=index,
            person_id=f"P{index + 1:06d}",
            crm=None,
            pos=None,
            origin=origin,
            lifecycle=lifecycle,
            attitude=attitude,
            first_seen=first_seen,
            churn_date=churn_date,
            user_id=None,
            loyalty_id=None,
            loyalty_joined=None,
            loyalty_joined_in=None,
            email=None,
            subscribed=False,
        )
        if origin == "online":
            c.user_id = f"user-{index + 1:06d}"
            c.email = contact.email
            crm = Contact(
                f"CRM-{index + 1:06d}",
                contact.first_name,
                contact.last_name,
                contact.email,
                people.crm_phone(contact.phone) if contact.phone and rng.random() < 0.85 else None,
                contact.address,
                contact.city,
                contact.postcode,
                contact.dob if rng.random() < 0.9 else None,
                customer_id=c.user_id,
            )
            if rng.random() < 0.35:
                c.loyalty_id = self.loyalty_id()
                c.loyalty_joined = between(rng, first_seen, c.life_end)
                c.loyalty_joined_in = "online"
                crm = replace(crm, loyalty_id=c.loyalty_id)
            c.crm = crm
            c.subscribed = rng.random() < 0.65
            kinds = ["desktop"] if rng.random() < 0.75 else []
            if rng.random() < 0.65 or not kinds:
                kinds.append("mobile")
            if rng.random() < 0.35:
                kinds.append(rng.choice(("ios", "android")))
        else:
            store_id = self.home_store(contact.city)
            c.loyalty_id = self.loyalty_id()
            c.loyalty_joined = store_hours(rng, first_seen, first_seen + DAY)
            c.first_seen = c.loyalty_joined
            c.loyalty_joined_in = "store"
            c.pos = Contact(
                self.next("POS-"),
                contact.first_name,
                contact.last_name,
                contact.email if rng.random() < 0.7 else None,
                people.till_phone(rng, contact.phone) if contact.phone and rng.random() < 0.8 else None,
                contact.address,
                contact.city,
                contact.postcode,
                contact.dob if rng.random() < 0.5 else None,
                loyalty_id=c.loyalty_id,
            )
            c.email = c.pos.email
            c.subscribed = c.email is not None and rng.random() < 0.5
            kinds = ["mobile"] if rng.random() < 0.35 else []
            self.signup_store[index] = store_id
        c.devices = [make_device(rng, kind) for kind in kinds]
        self.plan_orders(c)
        self.plan_browsing(c)
        if origin == "online" and rng.random() < 0.12:
            self.duplicate_at_till(c, contact)
        self.plan_emails(c)
        self.plan_store_life(c)
        self.plan_feedback(c)
        return c

    def home_store(self, city: str) -> str:
        return STORE_OF_CITY[city] if self.rng.random() < 0.85 else self.rng.choice(STORES)[0]

    # -- what they do ------------------------------------------------------------------------------------

    def place_visit(
        self, c: Customer | Visitor, visit: Visit, lo: datetime, hi: datetime, tries: int = 12
    ) -> bool:
        """Adds the visit at its time, or the nearest time a few hours off, so that two visits from one
        device are never within MIN_VISIT_SPACING; False (not added) when there is no room."""
        taken = [v.end for v in c.visits if v.device == visit.device]
        for k in range(tries):
            t = visit.end + MIN_VISIT_SPACING * ((k + 1) // 2) * (1 if k % 2 else -1)
            if lo <= t < hi and all(abs(t - other) >= MIN_VISIT_SPACING for other in taken):
                visit.end = t
                if visit.order is not None:
                    visit.order.at = t
                c.visits.append(visit)
                return True
        return False

    def arrival(self) -> int:
        return self.rng.choices(_ARRIVALS, cum_weights=_ARRIVAL_WEIGHTS)[0]

    def plan_orders(self, c: Customer) -> None:
        rng = self.rng
        if c.origin == "online":  # the account is opened on the first device
            c.visits.append(
                Visit(c.first_seen, 0, 0, 0, self.pick_product(), self.arrival(), identify=True, signup=True)
            )
        rate = rng.gammavariate(2.0, 2.0 if c.lifecycle == "churned" else 1.5)  # orders a year
        span = (c.life_end - c.first_seen) / timedelta(days=365)
        n = poisson(rng, rate * span)
        if c.origin == "store" or c.lifecycle == "churned":
            n = max(n, 1)
        elif n == 0 and rng.random() < 0.6:
            n = 1
        online_share = rng.uniform(0.35, 1.0) if c.origin == "online" else 0.0
        times = sorted(between(rng, c.first_seen + HOUR, c.life_end) for _ in range(n))
        if c.origin == "store" and c.loyalty_joined is not None:
            times[0] = c.loyalty_joined + 2 * MINUTE  # the sign-up was at the till, buying something
        for i, t in enumerate(times):
            if c.origin == "online" and rng.random() < online_share:
                self.online_order(c, t)
            else:
                store_id = self.signup_store.get(c.index) if i == 0 else None
                day = max(c.first_seen + HOUR, t - 12 * HOUR), min(c.life_end - HOUR, t + 12 * HOUR)
                at = t if i == 0 and c.origin == "store" else store_hours(rng, *day)
                self.store_order(c, at, store_id or self.home_store(c.city))

    def pick_product(self) -> str:
        return self.rng.choice(PRODUCTS).sku

    def online_order(self, c: Customer, t: datetime, sku: str | None = None) -> Order | None:
        rng = self.rng
        sku = sku or self.pick_product()
        device = rng.randrange(len(c.devices))
        channel = "app" if c.devices[device].is_app else "web"
        qty = 2 if BY_SKU[sku].price < 60 and rng.random() < 0.3 else 1
        order = Order(self.next("W", 7), t, channel, [(sku, qty)])
        entry = rng.choices((1, 2, 3), weights=(40, 30, 30))[0]
        visit = Visit(t, device, entry, ORDERED, sku, self.arrival(), order=order)
        if self.place_visit(c, visit, c.first_seen + HOUR, c.life_end):
            c.orders.append(order)
            return order
        return None

    def store_order(
        self, c: Customer, t: datetime, store_id: str, lines: list[tuple[str, int]] | None = None
    ) -> Order:
        rng = self.rng
        if lines is None:
            lines = [(self.pick_product(), 1)]
            for sku in rng.sample(ACCESSORIES, rng.choice((0, 0, 1, 1, 2))):
                if sku != lines[0][0]:
                    lines.append((sku, rng.choice((1, 1, 2))))
        t = till_time(t)
        has_card = c.loyalty_id is not None and c.loyalty_joined is not None and c.loyalty_joined <= t
        # the card when there is one (nearly always), else the e-mail address for the e-receipt
        identifier = "loyalty" if has_card and (rng.random() < 0.95 or not c.email) else "email"
        assert identifier == "loyalty" or c.email, "a customer's receipt always names them"
        order = Order(self.store_order_id(store_id), t, "pos", lines, store_id, identifier)
        c.orders.append(order)
        return order

    def plan_browsing(self, c: Customer) -> None:
        rng = self.rng
        if not c.devices:
            return
        span = (c.life_end - c.first_seen) / timedelta(days=365)
        n = poisson(rng, (3.0 if c.origin == "online" else 1.5) * span)
        if c.origin == "online" and rng.random() < 0.3:  # browsing before opening the account
            start = max(WORLD_START, c.first_seen - 30 * DAY)
            if start < c.first_seen - HOUR:
                entry, depth = browse_shape(rng)
                visit = Visit(
                    between(rng, start, c.first_seen - HOUR),
                    0,
                    entry,
                    depth,
                    self.pick_product(),
                    self.arrival(),
                )
                self.place_visit(c, visit, start, c.first_seen - HOUR)
        for _ in range(n):
            entry, depth = browse_shape(rng)
            device = rng.randrange(len(c.devices))
            visit = Visit(
                between(rng, c.first_seen + HOUR, c.life_end),
                device,
                entry,
                depth,
                self.pick_product(),
                self.arrival(),
            )
            self.place_visit(c, visit, c.first_seen + HOUR, c.life_end)

    def duplicate_at_till(self, c: Customer, contact: Contact) -> None:
        """The customer also signs up at a till, typed in again with mistakes: a duplicate record."""
        rng = self.rng
        assert c.crm is not None
        store_orders = [o for o in c.orders if o.channel == "pos"]
        if store_orders:
            at = store_orders[0].at - 2 * MINUTE
            store_id = store_orders[0].store_id or self.home_store(contact.city)
        else:
            latest = c.life_end - HOUR  # the purchase that comes with it is still before the churn date
            at = store_hours(rng, c.first_seen + DAY, latest) if c.first_seen + DAY < latest else latest
            store_id = self.home_store(contact.city)
        shared = rng.choices(("email", "phone", "loyalty_id", "none"), weights=(40, 25, 15, 20))[0]
        if shared == "loyalty_id" and c.loyalty_id is None:
            shared = "none"
        base = replace(c.crm, phone=contact.phone)
        pos, diffs = people.misspell(rng, base, self.next("POS-"))
        email: str | None = contact.email if shared == "email" else None
        if shared == "none" and rng.random() < 0.5 and contact.email:
            local, _, domain = contact.email.partition("@")
            typo = people.transpose(rng, local) or local + local[-1]
            email = f"{typo}@{domain}"
            diffs.append({"field": "email", "kind": "transposition", "crm": contact.email, "pos": email})
        phone = people.till_phone(rng, contact.phone) if shared == "phone" and contact.phone else None
        loyalty = c.loyalty_id if shared == "loyalty_id" else None
        if c.loyalty_id is None:  # the card is issued with this sign-up
            c.loyalty_id = loyalty = self.loyalty_id()
            c.loyalty_joined, c.loyalty_joined_in = at, "store"
            for order in c.orders:
                if order.channel == "pos" and order.at >= at:
                    order.identifier = "loyalty"
        c.pos = replace(pos, email=email, phone=phone, loyalty_id=loyalty)
        if not store_orders:
            self.store_order(c, at + 2 * MINUTE, store_id)
        c.duplicate = {"signed_up_at": at, "store_id": store_id, "differences": diffs}

    def plan_emails(self, c: Customer) -> None:
        rng = self.rng
        if not c.subscribed or c.email is None:
            return
        p_open = {"promoter": 0.3, "passive": 0.22, "detractor": 0.12}[c.attitude]
        for k, (_cid, _name, _subject, sent, feature) in enumerate(EMAIL_CAMPAIGNS):
            if sent < c.first_seen or sent >= WORLD_END:
                continue
            sent_at = sent + timedelta(seconds=c.index % 3600)  # a campaign takes an hour to go out
            send = EmailSend(k, f"e{k + 1:02d}-{c.index + 1:07d}", sent_at, "delivered")
            c.emails.append(send)
            if rng.random() < 0.008:
                send.outcome = "bounced"
                return  # a hard bounce: the address is dropped from the list
            if sent_at < c.life_end and c.index != 0 and rng.random() < p_open:
                opened = sent_at + timedelta(seconds=int(rng.expovariate(1 / 36000)) + 60)
                if opened < min(c.life_end, WORLD_END):
                    send.opened_at = opened
                    if rng.random() < 0.3:
                        send.clicked_at = opened + timedelta(seconds=rng.randrange(20, 600))
                        phones = [i for i, d in enumerate(c.devices) if d.kind == "mobile"]
                        if c.devices:
                            send.click_device = phones[0] if phones else 0
                            entry, depth = browse_shape(rng, landing=True)
                            visit = Visit(
                                send.clicked_at + MINUTE,
                                send.click_device,
                                entry,
                                depth,
                                feature,
                                email_campaign=k,
                            )
                            if not self.place_visit(
                                c, visit, c.first_seen, min(c.life_end, WORLD_END), tries=1
                            ):
                                send.click_device = None
            if rng.random() < (0.02 if c.attitude == "detractor" else 0.005):
                unsubscribed = sent_at + timedelta(seconds=rng.randrange(3600, 3 * 86400))
                if unsubscribed < min(c.life_end, WORLD_END):
                    send.unsubscribed_at = unsubscribed
                    return

    def plan_store_life(self, c: Customer) -> None:
        rng = self.rng
        phones = [i for i, d in enumerate(c.devices) if d.kind == "mobile"]
        for order in sorted((o for o in c.orders if o.channel == "pos"), key=lambda o: o.at):
            assert order.store_id is not None
            member = c.loyalty_joined is not None and c.loyalty_joined <= order.at
            if member and rng.random() < 0.5:
                c.store_visits.append(
                    StoreVisit(
                        self.next("SV", 7), order.at - timedelta(minutes=rng.randrange(5, 40)), order.store_id
                    )
                )
            if phones and rng.random() < 0.1:
                placement = rng.randrange(len(QR_PLACEMENTS))
                at = order.at - timedelta(minutes=rng.randrange(3, 20))
                c.qr_scans.append(QrScan(at, placement, order.store_id, phones[0], False))
            if rng.random() < 0.03 and order.at + 2 * DAY < c.life_end:
                back = till_time(store_hours(rng, order.at + 2 * DAY, min(order.at + 20 * DAY, c.life_end)))
                refund = Order(
                    self.store_order_id(order.store_id),
                    back,
                    "pos",
                    [(sku, -qty) for sku, qty in order.lines],
                    order.store_id,
                    order.identifier,
                )
                c.refunds.append(refund)
        if c.loyalty_joined is not None:
            span = (c.life_end - c.loyalty_joined) / timedelta(days=365)
            for _ in range(poisson(rng, 0.8 * span)):
                store_id = self.home_store(c.city)
                at = store_hours(rng, c.loyalty_joined + HOUR, c.life_end)
                c.store_visits.append(StoreVisit(self.next("SV", 7), at, store_id))

    def plan_feedback(self, c: Customer) -> None:
        rng = self.rng
        end = min(c.life_end, WORLD_END)
        orders = sorted(c.orders, key=lambda o: o.at)
        for order in orders:
            if rng.random() < 0.22 and c.email:  # the survey invitation goes by e-mail
                at = order.at + timedelta(seconds=rng.randrange(86400, 5 * 86400))
                if at < end:
                    c.surveys.append(self.survey_response(c, at))
            if rng.random() < 0.12 and (c.email or c.user_id):
                at = order.at + timedelta(seconds=rng.randrange(3 * 86400, 14 * 86400))
                if at < end:
                    rating = self.rating(c.attitude)
                    site = "shop.example.com" if rng.random() < 0.7 else "reviews.example.org"
                    c.reviews.append(Review(self.next("RV", 7), at, order.lines[0][0], rating, site))
        p_ticket = {"promoter": 0.08, "passive": 0.2, "detractor": 0.55}[c.attitude]
        if rng.random() < p_ticket:
            for _ in range(1 + poisson(rng, 0.3 if c.attitude == "detractor" else 0.1)):
                anchor = rng.choice(orders).at if orders else c.first_seen
                opened = anchor + timedelta(seconds=rng.randrange(86400, 14 * 86400))
                if opened < end:
                    c.tickets.append(self.ticket(c, opened))
        if rng.random() < 0.12:
            platform = rng.choice(SOCIAL_PLATFORMS)
            folded = people.ascii_fold(c.first_name + c.last_name).replace(" ", "").replace("-", "")
            handle = rng.choice((folded, f"{folded}{rng.randrange(1, 99)}", f"the_{folded}", f"{folded}_uk"))
            c.social = (platform, handle)
            for order in orders:
                if rng.random() < 0.25:
                    at = order.at + timedelta(seconds=rng.randrange(7200, 3 * 86400))
                    if at < end:
                        c.posts.append(self.post(c.attitude, at, platform, handle, order))

    def survey_response(self, c: Customer, at: datetime) -> SurveyResponse:
        rng = self.rng
        if c.attitude == "promoter":
            nps, csat, ces = rng.choice((9, 10, 10)), rng.choice((4, 5, 5)), rng.randrange(5, 8)
        elif c.attitude == "passive":
            nps, csat, ces = rng.choice((7, 8)), rng.choice((3, 4)), rng.randrange(4, 7)
        else:
            nps = rng.choices(range(7), weights=(1, 1, 2, 3, 4, 5, 5))[0]
            csat, ces = rng.choice((1, 2, 2, 3)), rng.randrange(1, 5)
        full = rng.random() < 0.8
        comment = rng.choice(SURVEY_COMMENTS[c.attitude]) if rng.random() < 0.7 else None
        return SurveyResponse(
            self.next("resp-", 7),
            at,
            "post-purchase-2026",
            nps,
            csat if full else None,
            ces if full else None,
            comment,
        )

    def rating(self, attitude: str) -> int:
        weights = {"promoter": (0, 0, 0, 3, 7), "passive": (0, 0, 4, 5, 1), "detractor": (45, 35, 20, 0, 0)}
        return self.rng.choices((1, 2, 3, 4, 5), weights=weights[attitude])[0]

    def ticket(self, c: Customer, opened: datetime) -> Ticket:
        rng = self.rng
        category = rng.choice(list(TICKET_TOPICS))
        updated = opened + timedelta(seconds=rng.randrange(7200, 2 * 86400)) if rng.random() < 0.6 else None
        resolved = (
            opened + timedelta(seconds=rng.randrange(86400, 7 * 86400)) if rng.random() < 0.95 else None
        )
        if resolved is not None and resolved >= WORLD_END:
            resolved = None
        if updated is not None and (updated >= WORLD_END or (resolved is not None and updated >= resolved)):
            updated = None
        scores = {"promoter": (4, 5), "passive": (3, 4), "detractor": (1, 2, 3)}[c.attitude]
        satisfaction = rng.choice(scores) if resolved is not None and rng.random() < 0.6 else None
        return Ticket(
            self.next("T", 7),
            category,
            rng.choice(TICKET_TOPICS[category]),
            rng.choice(("email", "phone", "chat", "chat", "store", "social")),
            rng.choice(("low", "normal", "normal", "high")),
            rng.choice(AGENTS),
            opened,
            updated,
            resolved,
            satisfaction,
        )

    def post(
        self, attitude: str, at: datetime, platform: str, handle: str, order: Order | None
    ) -> SocialPost:
        rng = self.rng
        sku = order.lines[0][0] if order else self.pick_product()
        store = next((name for sid, name, _ in STORES if order and sid == order.store_id), "the shop")
        text = rng.choice(SOCIAL_TEXT[attitude]).format(product=BY_SKU[sku].name, store=store)
        return SocialPost(
            self.post_id(platform),
            at,
            platform,
            handle,
            text,
            sku,
            rng.randrange(0, 400),
            rng.randrange(0, 40),
        )

    def post_id(self, platform: str) -> str:
        if platform == "instagram":
            alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
            return "C" + "".join(self.rng.choice(alphabet) for _ in range(10))
        return str(self.rng.randrange(10**18, 10**19))

    # -- across the world ----------------------------------------------------------------------------------

    def plant_abandoned_checkouts(self) -> int:
        """Adds exactly round(C * r / (1 - r)) checkouts that never complete, C the online orders: of all
        online Checkout Started, the share r (CHECKOUT_ABANDONMENT) is abandoned."""
        rng = self.rng
        completed = sum(1 for c in self.customers for v in c.visits if v.depth == ORDERED)
        target = round(completed * CHECKOUT_ABANDONMENT / (1 - CHECKOUT_ABANDONMENT))
        shoppers = [
            c
            for c in self.customers[1:]
            if c.origin == "online" and c.devices and c.life_end - c.first_seen > 2 * DAY
        ]
        cumulative = list(
            itertools.accumulate(1 + sum(1 for o in c.orders if o.channel != "pos") for c in shoppers)
        )
        placed = 0
        while placed < target and shoppers:
            c = rng.choices(shoppers, cum_weights=cumulative)[0]
            entry = rng.choices((1, 2, 3), weights=(40, 30, 30))[0]
            visit = Visit(
                between(rng, c.first_seen + HOUR, c.life_end),
                rng.randrange(len(c.devices)),
                entry,
                CHECKOUT,
                self.pick_product(),
                self.arrival(),
            )
            if self.place_visit(c, visit, c.first_seen + HOUR, c.life_end):
                placed += 1
        return placed

    def sign_ins(self, c: Customer) -> None:
        """Who signs in where: the account is opened on the first device; another device signs in at
        its first checkout, or now and then on a visit; the app asks at its first start."""
        if c.origin != "online" or c.index == 0:
            return
        rng = self.rng
        for device_index, device in enumerate(c.devices):
            visits = sorted((v for v in c.visits if v.device == device_index), key=lambda v: v.end)
            signed_in = False
            for visit in visits:
                if visit.signup:
                    signed_in = True
                    continue
                if signed_in or visit.end < c.first_seen:
                    continue
                if device.is_app or visit.depth >= CHECKOUT or rng.random() < 0.2:
                    visit.identify = signed_in = True

    def scans_signed_in(self, c: Customer) -> None:
        for scan in c.qr_scans:
            since = c.identified_from(scan.device)
            scan.signed_in = since is not None and since < scan.at

    def visitor(self, index: int) -> Visitor:
        rng = self.rng
        visitor = Visitor(index, make_device(rng, rng.choice(("desktop", "mobile"))), [])
        for _ in range(rng.choice((1, 1, 2))):
            entry, depth = browse_shape(rng)
            visit = Visit(
                between(rng, WORLD_START, WORLD_END), 0, entry, depth, self.pick_product(), self.arrival()
            )
            self.place_visit(visitor, visit, WORLD_START, WORLD_END)
        visitor.visits.sort(key=lambda v: v.end)
        return visitor

    def walk_in_sale(self) -> Order:
        rng = self.rng
        store_id = rng.choice(STORES)[0]
        lines = [(self.pick_product(), 1)]
        if rng.random() < 0.4:
            lines.append((rng.choice(ACCESSORIES), 1))
        at = store_hours(rng, WORLD_START, WORLD_END)
        return Order(self.store_order_id(store_id), at, "pos", lines, store_id, "none")

    def noise_post(self) -> SocialPost:
        rng = self.rng
        platform = rng.choice(SOCIAL_PLATFORMS)
        handle = f"{rng.choice(('tech', 'gadget', 'deal', 'film', 'game'))}{rng.choice(('guru', 'fan', 'hunter', 'nerd'))}{rng.randrange(10, 9999)}"
        sku = self.pick_product()
        text = rng.choice(NOISE_POSTS).format(product=BY_SKU[sku].name)
        return SocialPost(
            self.post_id(platform),
            between(rng, WORLD_START, WORLD_END),
            platform,
            handle,
            text,
            sku,
            rng.randrange(0, 2000),
            rng.randrange(0, 200),
        )

    # -- Jane ----------------------------------------------------------------------------------------------

    def jane(self) -> Customer:
        """Customer 1: the multichannel shopper of the issue, with her touchpoints at fixed times."""
        rng = self.rng
        first_seen = datetime(2025, 12, 14, 19, 20, 0, tzinfo=WORLD_END.tzinfo)
        crm = Contact(
            "CRM-000001",
            "Jane",
            "Doe",
            JANE_EMAIL,
            "+44 7700 900123",
            "12 Elm Grove",
            "London",
            "N7 3QD",
            date(1988, 4, 12),
            loyalty_id="LC10000001",
            customer_id="user-000001",
        )
        jane = Customer(
            index=0,
            person_id="P000001",
            crm=crm,
            pos=None,
            origin="online",
            lifecycle="active",
            attitude="promoter",
            first_seen=first_seen,
            churn_date=None,
            user_id="user-000001",
            loyalty_id="LC10000001",
            loyalty_joined=datetime(2026, 2, 8, 13, 5, 0, tzinfo=WORLD_END.tzinfo),
            loyalty_joined_in="online",
            email=JANE_EMAIL,
            subscribed=True,
        )
        laptop = make_device(rng, "desktop")
        laptop.user_agent = (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/18.1 Safari/605.1.15"
        )
        laptop.library = 0
        phone = make_device(rng, "mobile")
        phone.user_agent = (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/18.1 Mobile/15E148 Safari/604.1"
        )
        phone.library = 0
        jane.devices = [laptop, phone]
        tz = WORLD_END.tzinfo

        def at(year: int, month: int, day: int, hour: int, minute: int, second: int) -> datetime:
            return datetime(year, month, day, hour, minute, second, tzinfo=tz)

        jane.visits.append(Visit(first_seen, 0, 0, 0, "sku-hp-01", None, identify=True, signup=True))
        headphones = Order("W-JANE-0001", at(2026, 1, 5, 20, 10, 0), "web", [("sku-hp-01", 1)])
        jane.visits.append(Visit(headphones.at, 0, 1, ORDERED, "sku-hp-01", 1, order=headphones))
        jane.orders.append(headphones)
        # (1) the search ad, on her phone (not signed in there): a page view with the campaign
        jane.visits.append(Visit(at(2026, 10, 20, 20, 14, 5), 1, 0, 0, "sku-tv-55", story="search-ad"))
        # (2) + (3) the review site's banner, on her laptop (signed in): the product page
        jane.visits.append(Visit(at(2026, 10, 22, 12, 40, 12), 0, 3, 3, "sku-tv-55", story="review-banner"))
        # (4) the store visit: her loyalty card at the door of Oxford Street
        jane.store_visits.append(StoreVisit("SV-JANE-0001", at(2026, 10, 25, 10, 5, 0), "store-001"))
        # (5) the QR code on the TV wall, scanned with her phone
        jane.qr_scans.append(QrScan(at(2026, 10, 25, 10, 12, 30), 0, "store-001", 1, False))
        # (6) her post of the TV
        jane.social = ("instagram", "jane.doe.home")
        jane.posts.append(
            SocialPost(
                "CJaneDoeTV1",
                at(2026, 10, 25, 10, 31, 0),
                "instagram",
                "jane.doe.home",
                "Treating myself to this 55-inch OLED at @ExampleElectronics Oxford Street 😍 #newtv",
                "sku-tv-55",
                48,
                3,
            )
        )
        # (7) the purchase at the till with her loyalty card
        tv = Order(
            "S001-JANE01", at(2026, 10, 25, 10, 48, 20), "pos", [("sku-tv-55", 1)], "store-001", "loyalty"
        )
        jane.orders.append(tv)
        # and that evening she signs in on her phone to register the TV: her phone's visits become hers
        jane.visits.append(
            Visit(at(2026, 10, 25, 19, 32, 0), 1, 0, 0, "sku-tv-55", identify=True, story="phone-sign-in")
        )
        self.plan_emails(jane)
        return jane
