"""``touchpoints import KIND FILE``: for every kind, a file with good and bad rows. The good rows land as the
right events, each bad row is held in quarantine with the file, its row and a reason naming the field and
the value, and importing the same file again changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Home
from tests.sources.helpers import (
    assert_names,
    assert_reimport_changes_nothing,
    counts,
    do_import,
    enrichment_rows,
    expect,
    held_reasons,
    stored,
    view,
    write,
)

NO_CUSTOMER = "names no customer"


def test_events(home: Home, tmp_path: Path) -> None:
    path = write(
        tmp_path / "events.csv",
        """
        event,timestamp,user_id,anonymous_id,plan,message_id,type,name
        Signed Up,2024-05-01T10:00:00Z,u1,,pro,,,
        Product Viewed,2024-05-01T11:00:00+02:00,,a1,,m-2,,
        ,2024-05-01T10:00:00Z,u1,,,,,
        Viewed,yesterday,u1,,,,,
        Viewed,2024-05-01T10:00:00Z,,,,,,
        ,2024-05-01T12:00:00Z,u2,,gold,,identify,
        ,2024-05-01T13:00:00Z,u2,,,,page,Home
        Viewed,2024-05-01T10:00:00Z,u2,,,,weird,
        """,
    )
    first = do_import(home, "events", path)
    assert counts(first) == expect(imported=4, quarantined=4, rows=8)

    events = stored(home)
    base = {"name": None, "event": None, "userId": None, "anonymousId": None, "flags": [], "properties": {},
            "traits": {}, "channel": "other"}  # fmt: skip
    assert [view(e) for e in events] == [
        {**base, "type": "track", "event": "Product Viewed", "anonymousId": "a1",
         "timestamp": "2024-05-01T09:00:00.000000Z"},
        {**base, "type": "track", "event": "Signed Up", "userId": "u1", "timestamp": "2024-05-01T10:00:00.000000Z",
         "properties": {"plan": "pro"}},
        {**base, "type": "identify", "userId": "u2", "timestamp": "2024-05-01T12:00:00.000000Z",
         "traits": {"plan": "gold"}},
        {**base, "type": "page", "name": "Home", "userId": "u2", "timestamp": "2024-05-01T13:00:00.000000Z"},
    ]  # fmt: skip
    assert events[0]["messageId"] == "m-2", "a message_id column is kept as the event's messageId"

    reasons = held_reasons(home)
    assert set(reasons) == {f"events.csv row {n}" for n in (3, 4, 5, 8)}
    assert_names(reasons["events.csv row 3"], "event", "empty")
    assert_names(reasons["events.csv row 4"], "timestamp", "'yesterday'")
    assert NO_CUSTOMER in reasons["events.csv row 5"]
    assert_names(reasons["events.csv row 8"], "type", "'weird'")

    assert_reimport_changes_nothing(home, "events", path, first)


def test_transactions(home: Home, tmp_path: Path) -> None:
    path = write(
        tmp_path / "sales.csv",
        """
        order_id,timestamp,sku,quantity,unit_price,customer_id,product_name
        O1,2024-05-01T10:00:00Z,A,2,1.50,c1,Widget
        O1,2024-05-01T10:00:00Z,B,1,3.25,c1,Gadget
        O2,2024-05-02T10:00:00Z,C,two,2.00,c2,
        O3,2024-05-02T10:00:00Z,D,1,abc,c3,
        O4,not a date,E,1,1,c4,
        O5,2024-05-03T10:00:00Z,,1,1,c5,
        """,
    )
    first = do_import(home, "transactions", path, source="pos-2024")
    assert counts(first) == expect(imported=1, quarantined=4, rows=6)

    [order] = stored(home)
    assert view(order) == {
        "type": "track",
        "event": "Order Completed",
        "name": None,
        "channel": "pos",
        "userId": "c1",
        "anonymousId": None,
        "timestamp": "2024-05-01T10:00:00.000000Z",
        "flags": [],
        "properties": {
            "order_id": "O1",
            "revenue": 6.25,
            "total": 6.25,
            "products": [
                {"product_id": "A", "sku": "A", "name": "Widget", "quantity": 2, "price": 1.5},
                {"product_id": "B", "sku": "B", "name": "Gadget", "quantity": 1, "price": 3.25},
            ],
        },
        "traits": {},
    }
    assert order["source"] == "pos-2024"

    reasons = held_reasons(home)
    assert set(reasons) == {f"sales.csv row {n}" for n in (3, 4, 5, 6)}
    assert_names(reasons["sales.csv row 3"], "quantity", "'two'")
    assert_names(reasons["sales.csv row 4"], "unit_price", "'abc'")
    assert_names(reasons["sales.csv row 5"], "timestamp", "'not a date'")
    assert_names(reasons["sales.csv row 6"], "sku", "empty")

    assert_reimport_changes_nothing(home, "transactions", path, first, source="pos-2024")


CONTACTS = """
    record_id,first_name,last_name,email,phone,address,city,postcode,state,country,dob,timestamp
    R1,Ann,Lee,Ann.Lee@Example.COM,+44 20 7946 0000,1 High St,London,SW1A 1AA,,UK,1990-02-03,2024-05-01T10:00:00Z
    R2,Bob,Ray,bob@,,,,,,,,2024-05-01T10:00:00Z
    R3,Cy,,c@example.com,,,,,,,1990-13-45,2024-05-01T10:00:00Z
    ,Dee,,d@example.com,,,,,,,,2024-05-01T10:00:00Z
    R5,Eve,Ng,eve@example.com,,,Austin,73301,TX,US,,2024-05-02T10:00:00Z
"""


def test_contacts(home: Home, tmp_path: Path) -> None:
    path = write(tmp_path / "crm.csv", CONTACTS)
    first = do_import(home, "contacts", path, source="crm")
    assert counts(first) == expect(imported=2, quarantined=3, rows=5)

    ann, eve = stored(home)
    assert view(ann) == {
        "type": "identify",
        "event": None,
        "name": None,
        "channel": "other",
        # A record id names the record, not a person's account: the contact is the record node R1 of the
        # identity graph, and its events carry an id made of its best identifier.
        "userId": None,
        "anonymousId": "email:ann.lee@example.com",
        "timestamp": "2024-05-01T10:00:00.000000Z",
        "flags": [],
        "properties": {},
        "traits": {
            "record_id": "R1",
            "firstName": "Ann",
            "lastName": "Lee",
            "name": "Ann Lee",
            "email": "ann.lee@example.com",
            "phone": "+44 20 7946 0000",
            "birthday": "1990-02-03",
            "address": {"street": "1 High St", "city": "London", "postalCode": "SW1A 1AA", "country": "UK"},
        },
    }
    assert eve["traits"]["address"] == {
        "city": "Austin",
        "postalCode": "73301",
        "state": "TX",
        "country": "US",
    }
    assert eve["timestamp"] == "2024-05-02T10:00:00.000000Z"

    reasons = held_reasons(home)
    assert set(reasons) == {"crm.csv row 2", "crm.csv row 3", "crm.csv row 4"}
    assert_names(reasons["crm.csv row 2"], "email", "'bob@'")
    assert_names(reasons["crm.csv row 3"], "dob", "'1990-13-45'")
    assert_names(reasons["crm.csv row 4"], "record_id", "empty")

    assert_reimport_changes_nothing(home, "contacts", path, first, source="crm")


def test_contacts_without_a_timestamp_are_stamped_now_and_flagged(home: Home, tmp_path: Path) -> None:
    path = write(tmp_path / "crm.csv", "record_id,first_name,email\nR1,Ann,ann@example.com\n")
    assert counts(do_import(home, "contacts", path, source="crm")) == expect(
        imported=1, quarantined=0, rows=1
    )
    [ann] = stored(home)
    assert ann["flags"] == ["timestamp_missing"]
    traits = {k: v for k, v in ann["traits"].items() if k != "address"}
    assert traits == {"record_id": "R1", "firstName": "Ann", "name": "Ann", "email": "ann@example.com"}


def test_a_record_without_an_address_has_no_empty_address_trait(home: Home, tmp_path: Path) -> None:
    """Traits merge into the profile: an empty address object says "no address" about a customer whose
    file simply has no address columns."""
    path = write(tmp_path / "crm.csv", "record_id,email\nR1,ann@example.com\n")
    do_import(home, "contacts", path, source="crm")
    [ann] = stored(home)
    assert "address" not in ann["traits"], ann["traits"]


def test_a_changed_contact_record_lands_as_a_new_identify(home: Home, tmp_path: Path) -> None:
    """The CRM export of next month: the same record, a new email address. Its identify must land, or the
    profile keeps the old address for ever."""
    header = "record_id,first_name,email,timestamp\n"
    first = write(tmp_path / "may" / "crm.csv", header + "R1,Ann,ann@example.com,2024-05-01T10:00:00Z\n")
    changed = write(
        tmp_path / "june" / "crm.csv", header + "R1,Ann,ann.new@example.com,2024-06-01T10:00:00Z\n"
    )
    assert do_import(home, "contacts", first, source="crm")["imported"] == 1
    again = do_import(home, "contacts", changed, source="crm")
    assert (again["imported"], again["duplicates"]) == (1, 0), again
    assert [e["traits"]["email"] for e in stored(home)] == ["ann@example.com", "ann.new@example.com"]


def test_tickets(home: Home, tmp_path: Path) -> None:
    path = write(
        tmp_path / "zendesk.csv",
        """
        ticket_id,timestamp,status,email,subject,satisfaction,contact_channel
        T1,2024-05-01T10:00:00Z,open,Ann@Example.com,Broken till,,chat
        T1,2024-05-01T12:00:00Z,Updated,ann@example.com,Broken till,,chat
        T1,2024-05-02T10:00:00Z,closed,ann@example.com,Broken till,5,chat
        T2,2024-05-02T10:00:00Z,escalated,b@example.com,Refund,,
        T3,2024-05-02T10:00:00Z,resolved,c@example.com,Refund,9,
        T4,2024-05-02T10:00:00Z,opened,,Refund,,
        T5,2024-05-02T10:00:00Z,opened,not-an-email,Refund,,
        T6,2 May,opened,f@example.com,Refund,,
        """,
    )
    first = do_import(home, "tickets", path, source="zendesk")
    assert counts(first) == expect(imported=3, quarantined=5, rows=8)

    events = stored(home)
    assert [(e["event"], e["properties"]["status"], e["timestamp"]) for e in events] == [
        ("Ticket Opened", "opened", "2024-05-01T10:00:00.000000Z"),
        ("Ticket Updated", "updated", "2024-05-01T12:00:00.000000Z"),
        ("Ticket Resolved", "resolved", "2024-05-02T10:00:00.000000Z"),
    ]
    for e in events:
        assert (e["channel"], e["anonymousId"], e.get("userId")) == ("support", "email:ann@example.com", None)
        assert e["context"]["traits"] == {"email": "ann@example.com"}
        assert e["properties"]["ticket_id"] == "T1"
    assert events[0]["properties"] == {"ticket_id": "T1", "status": "opened", "contact_channel": "chat",
                                       "subject": "Broken till"}  # fmt: skip
    assert events[2]["properties"]["satisfaction"] == 5

    reasons = held_reasons(home)
    assert set(reasons) == {f"zendesk.csv row {n}" for n in (4, 5, 6, 7, 8)}
    assert_names(reasons["zendesk.csv row 4"], "status", "'escalated'")
    assert_names(reasons["zendesk.csv row 5"], "satisfaction", "9")
    assert NO_CUSTOMER in reasons["zendesk.csv row 6"]
    assert_names(reasons["zendesk.csv row 7"], "email", "'not-an-email'")
    assert_names(reasons["zendesk.csv row 8"], "timestamp", "'2 May'")

    assert_reimport_changes_nothing(home, "tickets", path, first, source="zendesk")


def test_surveys(home: Home, tmp_path: Path) -> None:
    path = write(
        tmp_path / "nps.csv",
        """
        response_id,timestamp,customer_id,survey_id,nps,csat,ces,comment
        R1,2024-05-01T10:00:00Z,c1,S1,9,,,Great
        R2,2024-05-01T10:00:00Z,c2,S1,11,,,
        R3,2024-05-01T10:00:00Z,c3,S1,,,,
        R4,2024-05-01T11:00:00Z,c4,S1,,4,6,
        R5,2024-05-01T10:00:00Z,c5,S1,,6,,
        R6,2024-05-01T10:00:00Z,,S1,7,,,
        R7,2024-05-01T10:00:00Z,c7,S1,ten,,,
        """,
    )
    first = do_import(home, "surveys", path)
    assert counts(first) == expect(imported=2, quarantined=5, rows=7)

    r1, r4 = stored(home)
    assert view(r1) == {
        "type": "track",
        "event": "Survey Responded",
        "name": None,
        "channel": "survey",
        "userId": "c1",
        "anonymousId": None,
        "timestamp": "2024-05-01T10:00:00.000000Z",
        "flags": [],
        "properties": {"response_id": "R1", "survey_id": "S1", "nps": 9, "comment": "Great"},
        "traits": {},
    }
    assert r4["properties"] == {"response_id": "R4", "survey_id": "S1", "csat": 4, "ces": 6}

    reasons = held_reasons(home)
    assert set(reasons) == {f"nps.csv row {n}" for n in (2, 3, 5, 6, 7)}
    assert_names(reasons["nps.csv row 2"], "nps", "11")
    assert "no answer" in reasons["nps.csv row 3"]
    assert_names(reasons["nps.csv row 5"], "csat", "6")
    assert NO_CUSTOMER in reasons["nps.csv row 6"]
    assert_names(reasons["nps.csv row 7"], "nps", "'ten'")

    assert_reimport_changes_nothing(home, "surveys", path, first)


def test_reviews(home: Home, tmp_path: Path) -> None:
    path = write(
        tmp_path / "trustpilot.csv",
        """
        review_id,timestamp,rating,sku,title,text,email,site
        V1,2024-05-01T10:00:00Z,5,SKU1,Nice,Love it,X@Example.com,trustpilot
        V2,2024-05-01T10:00:00Z,0,SKU1,Bad,,x@example.com,
        V3,2024-05-01T10:00:00Z,6,SKU1,,,x@example.com,
        V4,2024-05-01T10:00:00Z,,SKU1,,,x@example.com,
        V5,2024-05-01T10:00:00Z,4,SKU2,,,,
        V6,2024-05-01T10:00:00Z,five,SKU2,,,x@example.com,
        V7,2024-05-02T10:00:00Z,3,SKU2,Fine,,y@example.com,
        """,
    )
    first = do_import(home, "reviews", path)
    assert counts(first) == expect(imported=2, quarantined=5, rows=7)

    v1, v7 = stored(home)
    assert view(v1) == {
        "type": "track",
        "event": "Product Reviewed",
        "name": None,
        "channel": "review",
        "userId": None,
        "anonymousId": "email:x@example.com",
        "timestamp": "2024-05-01T10:00:00.000000Z",
        "flags": [],
        "properties": {"review_id": "V1", "rating": 5, "product_id": "SKU1", "title": "Nice",
                       "review_body": "Love it", "site": "trustpilot"},
        "traits": {},
    }  # fmt: skip
    assert v7["properties"]["rating"] == 3

    reasons = held_reasons(home)
    assert set(reasons) == {f"trustpilot.csv row {n}" for n in (2, 3, 4, 5, 6)}
    assert_names(reasons["trustpilot.csv row 2"], "rating", "0")
    assert_names(reasons["trustpilot.csv row 3"], "rating", "6")
    assert_names(reasons["trustpilot.csv row 4"], "rating", "empty")
    assert NO_CUSTOMER in reasons["trustpilot.csv row 5"]
    assert_names(reasons["trustpilot.csv row 6"], "rating", "'five'")

    assert_reimport_changes_nothing(home, "reviews", path, first)


def test_a_fractional_rating_is_not_rounded(home: Home, tmp_path: Path) -> None:
    """Ratings are whole numbers 1 to 5: 4.5 is a bad value (held), not a 5."""
    path = write(
        tmp_path / "reviews.csv",
        "review_id,timestamp,rating,customer_id\nV1,2024-05-01T10:00:00Z,4.5,c1\nV2,2024-05-01T10:00:00Z,4,c1\n",
    )
    result = do_import(home, "reviews", path)
    assert [e["properties"]["rating"] for e in stored(home)] == [4]
    assert counts(result) == expect(imported=1, quarantined=1, rows=2)
    assert_names(held_reasons(home)["reviews.csv row 1"], "rating", "4.5")


def test_social(home: Home, tmp_path: Path) -> None:
    path = write(
        tmp_path / "mentions.csv",
        """
        post_id,timestamp,platform,handle,text,url,email
        P1,2024-05-01T10:00:00Z,Instagram,@Fan1,Love the shop,https://instagram.test/p/1,
        P2,2024-05-01T10:00:00Z,twitter,,hm,,
        P3,2024-05-01T10:00:00Z,,bob,hm,,
        P4,last week,twitter,bob,hm,,
        P5,2024-05-02T10:00:00Z,twitter,bob,hi,,Bob@Example.com
        """,
    )
    first = do_import(home, "social", path)
    assert counts(first) == expect(imported=2, quarantined=3, rows=5)

    p1, p5 = stored(home)
    assert view(p1) == {
        "type": "track",
        "event": "Social Mention",
        "name": None,
        "channel": "social",
        "userId": None,
        "anonymousId": "social:instagram:@fan1",
        "timestamp": "2024-05-01T10:00:00.000000Z",
        "flags": [],
        "properties": {"post_id": "P1", "platform": "Instagram", "handle": "@Fan1", "text": "Love the shop",
                       "url": "https://instagram.test/p/1"},
        "traits": {},
    }  # fmt: skip
    assert p5["anonymousId"] == "email:bob@example.com", "a known customer identifier wins over the handle"

    reasons = held_reasons(home)
    assert set(reasons) == {"mentions.csv row 2", "mentions.csv row 3", "mentions.csv row 4"}
    assert_names(reasons["mentions.csv row 2"], "handle", "empty")
    assert_names(reasons["mentions.csv row 3"], "platform", "empty")
    assert_names(reasons["mentions.csv row 4"], "timestamp", "'last week'")

    assert_reimport_changes_nothing(home, "social", path, first)


def test_social_with_likes_and_shares(home: Home, tmp_path: Path) -> None:
    """likes and shares are counts (at least 0); a file that has them must import like any other."""
    path = write(
        tmp_path / "mentions.csv",
        """
        post_id,timestamp,platform,handle,likes,shares
        P1,2024-05-01T10:00:00Z,instagram,fan1,10,2
        P2,2024-05-01T10:00:00Z,instagram,fan2,-1,0
        P3,2024-05-01T10:00:00Z,instagram,fan3,lots,0
        """,
    )
    first = do_import(home, "social", path)
    assert counts(first) == expect(imported=1, quarantined=2, rows=3)
    [p1] = stored(home)
    assert (p1["properties"]["likes"], p1["properties"]["shares"]) == (10, 2)
    reasons = held_reasons(home)
    assert_names(reasons["mentions.csv row 2"], "likes", "-1")
    assert_names(reasons["mentions.csv row 3"], "likes", "'lots'")
    assert_reimport_changes_nothing(home, "social", path, first)


def test_loyalty(home: Home, tmp_path: Path) -> None:
    path = write(
        tmp_path / "points.csv",
        """
        loyalty_id,timestamp,activity,activity_id,points,balance,tier
        L1,2024-05-01T10:00:00Z,joined,A1,,0,bronze
        L1,2024-05-02T10:00:00Z,earn,A2,50,50,
        L1,2024-05-03T10:00:00Z,Tier Changed,A3,,50,silver
        L1,2024-05-04T10:00:00Z,gifted,A4,5,55,
        ,2024-05-04T10:00:00Z,earned,A5,5,55,
        L2,2024-05-04T10:00:00Z,earned,A6,five,55,
        L3,2024-05-05T10:00:00Z,redeem,A7,-20,30,
        """,
    )
    first = do_import(home, "loyalty", path)
    assert counts(first) == expect(imported=4, quarantined=3, rows=7)

    events = stored(home)
    assert [(e["event"], e["anonymousId"], e["channel"]) for e in events] == [
        ("Loyalty Program Joined", "loyalty:L1", "loyalty"),
        ("Loyalty Points Earned", "loyalty:L1", "loyalty"),
        ("Loyalty Tier Changed", "loyalty:L1", "loyalty"),
        ("Loyalty Points Redeemed", "loyalty:L3", "loyalty"),
    ]
    assert events[0]["properties"] == {
        "loyalty_id": "L1",
        "activity_id": "A1",
        "balance": 0,
        "tier": "bronze",
    }
    assert events[1]["properties"] == {"loyalty_id": "L1", "activity_id": "A2", "points": 50, "balance": 50}
    assert events[3]["properties"]["points"] == -20
    assert events[0]["context"]["traits"] == {"loyalty_id": "L1"}

    reasons = held_reasons(home)
    assert set(reasons) == {"points.csv row 4", "points.csv row 5", "points.csv row 6"}
    assert_names(reasons["points.csv row 4"], "activity", "'gifted'")
    assert_names(reasons["points.csv row 5"], "loyalty_id", "empty")
    assert_names(reasons["points.csv row 6"], "points", "'five'")

    assert_reimport_changes_nothing(home, "loyalty", path, first)


def test_email(home: Home, tmp_path: Path) -> None:
    path = write(
        tmp_path / "mailchimp.csv",
        """
        email,timestamp,status,email_id,campaign_id,campaign_name,subject,url,bounce_type
        Ann@Example.com,2024-05-01T10:00:00Z,delivered,E1,C1,Spring,Hello,,
        ann@example.com,2024-05-01T11:00:00Z,click,E1,C1,Spring,Hello,https://shop.test/a,
        bob@example.com,2024-05-01T12:00:00Z,Bounce,E2,C1,Spring,Hello,,hard
        ann@example.com,2024-05-01T11:00:00Z,forwarded,E1,C1,Spring,Hello,,
        bad-address,2024-05-01T11:00:00Z,opened,E1,C1,Spring,Hello,,
        ,2024-05-01T11:00:00Z,opened,E1,C1,Spring,Hello,,
        """,
    )
    first = do_import(home, "email", path)
    assert counts(first) == expect(imported=3, quarantined=3, rows=6)

    delivered, clicked, bounced = stored(home)
    assert view(clicked) == {
        "type": "track",
        "event": "Email Link Clicked",
        "name": None,
        "channel": "email",
        "userId": None,
        "anonymousId": "email:ann@example.com",
        "timestamp": "2024-05-01T11:00:00.000000Z",
        "flags": [],
        "properties": {"email_id": "E1", "campaign_id": "C1", "campaign_name": "Spring", "email_subject": "Hello",
                       "link_url": "https://shop.test/a"},
        "traits": {},
    }  # fmt: skip
    assert (delivered["event"], delivered["anonymousId"]) == ("Email Delivered", "email:ann@example.com")
    assert (bounced["event"], bounced["properties"]["bounce_type"]) == ("Email Bounced", "hard")

    reasons = held_reasons(home)
    assert set(reasons) == {"mailchimp.csv row 4", "mailchimp.csv row 5", "mailchimp.csv row 6"}
    assert_names(reasons["mailchimp.csv row 4"], "status", "'forwarded'")
    assert_names(reasons["mailchimp.csv row 5"], "email", "'bad-address'")
    assert_names(reasons["mailchimp.csv row 6"], "email", "empty")

    assert_reimport_changes_nothing(home, "email", path, first)


def test_enrichment(home: Home, tmp_path: Path) -> None:
    path = write(
        tmp_path / "census.csv",
        """
        postcode,band,region
        SW1A 1AA,A,London
        m1 1ae,B,North
        ,C,Nowhere
        M1 1AE,C,North
        """,
    )
    first = do_import(home, "enrichment", path, "--key", "postcode", source="census")
    assert counts(first) == expect(imported=2, quarantined=2, rows=4)
    assert enrichment_rows(home) == [
        ("census", "postcode", "M11AE", '{"band":"B","region":"North"}'),
        ("census", "postcode", "SW1A1AA", '{"band":"A","region":"London"}'),
    ]
    assert stored(home) == [], "an enrichment table is not events"

    reasons = held_reasons(home)
    assert set(reasons) == {"census.csv row 3", "census.csv row 4"}
    assert_names(reasons["census.csv row 3"], "postcode", "empty")
    assert_names(reasons["census.csv row 4"], "M11AE", "row 2")

    assert_reimport_changes_nothing(home, "enrichment", path, first, "--key", "postcode", source="census")


FIXES = {
    # kind: (header, a good row, a bad row, the bad row fixed)
    "surveys": (
        "response_id,timestamp,customer_id,nps",
        "R0,2024-05-01T09:00:00Z,c0,8", "R1,2024-05-01T10:00:00Z,c1,11", "R1,2024-05-01T10:00:00Z,c1,10",
    ),
    "reviews": (
        "review_id,timestamp,rating,customer_id",
        "V0,2024-05-01T09:00:00Z,4,c0", "V1,2024-05-01T10:00:00Z,6,c1", "V1,2024-05-01T10:00:00Z,5,c1",
    ),
    "loyalty": (
        "loyalty_id,timestamp,activity,activity_id",
        "L0,2024-05-01T09:00:00Z,earned,A0", "L1,2024-05-01T10:00:00Z,gifted,A1", "L1,2024-05-01T10:00:00Z,earned,A1",
    ),
    "tickets": (
        "ticket_id,timestamp,status,customer_id",
        "T0,2024-05-01T09:00:00Z,opened,c0", "T1,2024-05-01T10:00:00Z,escalated,c1",
        "T1,2024-05-01T10:00:00Z,updated,c1",
    ),
    "email": (
        "email,timestamp,status,email_id",
        "b@example.com,2024-05-01T09:00:00Z,opened,E0", "a@example.com,2024-05-01T10:00:00Z,forwarded,E1",
        "a@example.com,2024-05-01T10:00:00Z,clicked,E1",
    ),
    "events": (
        "event,timestamp,user_id",
        "Viewed,2024-05-01T09:00:00Z,u0", "Signed Up,yesterday,u1", "Signed Up,2024-05-01T10:00:00Z,u1",
    ),
}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(FIXES))
def test_a_row_fixed_in_the_file_lands_and_leaves_quarantine(home: Home, tmp_path: Path, kind: str) -> None:
    """The importer's promise: fix the row in the file, import it again, and it lands and releases its
    quarantine item. Otherwise the user sees the row stored and still listed as held."""
    header, good, bad, fixed = FIXES[kind]
    first = do_import(home, kind, write(tmp_path / "a" / "data.csv", f"{header}\n{good}\n{bad}\n"))
    assert counts(first) == expect(imported=1, quarantined=1, rows=2)
    again = do_import(home, kind, write(tmp_path / "b" / "data.csv", f"{header}\n{good}\n{fixed}\n"))
    assert counts(again) == expect(imported=1, quarantined=0, rows=2, duplicates=1, released=1)
    assert len(stored(home)) == 2
    assert held_reasons(home) == {}


def test_every_kind_has_a_test() -> None:
    from touchpoints.sources.kinds import KINDS

    tested = {name.removeprefix("test_") for name in globals() if name.startswith("test_")}
    assert set(KINDS) <= tested
