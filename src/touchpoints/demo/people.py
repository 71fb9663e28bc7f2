"""Who the demo customers are: names, addresses, phones, e-mails, and the typos a store sign-up adds.

A store clerk typing a customer in at the till makes the mistakes record linkage has to see through: two
letters transposed, a letter missing or doubled, a nickname for the first name, "Street" shortened to
"St", a postcode without its space, a phone number written another way, day and month of birth swapped.
``misspell`` makes such a copy of a record and says exactly what it changed.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, replace
from datetime import date, timedelta

from touchpoints.demo.catalog import (
    FIRST_NAMES,
    LAST_NAMES,
    NICKNAMES,
    PLACES,
    POSTCODE_LETTERS,
    STREET_TYPES,
    STREETS,
)

_KEYBOARD_NEIGHBOURS = {
    "a": "qsz",
    "b": "vgn",
    "c": "xdv",
    "d": "sfe",
    "e": "wrd",
    "f": "dgr",
    "g": "fht",
    "h": "gjy",
    "i": "uok",
    "j": "hku",
    "k": "jli",
    "l": "kop",
    "m": "nj",
    "n": "bmh",
    "o": "ipl",
    "p": "ol",
    "r": "eft",
    "s": "adw",
    "t": "rgy",
    "u": "yij",
    "v": "cbf",
    "w": "qes",
    "y": "tuh",
    "z": "xas",
}
_ABBREVIATION = dict(STREET_TYPES)


@dataclass(frozen=True)
class Contact:
    """One customer record as a CRM or a till keeps it (the columns of the contacts import)."""

    record_id: str
    first_name: str
    last_name: str
    email: str | None
    phone: str | None  # as typed: "+44 7700 900123", "07700 900123", "07700900123"
    address: str  # house number and street
    city: str
    postcode: str
    dob: date | None
    loyalty_id: str | None = None
    customer_id: str | None = None


def ascii_fold(text: str) -> str:
    """'Zoë Müller-O'Brien' -> 'zoe muller-obrien' (for e-mail local parts and handles)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum() or ch in " -")


def pick_name(rng: random.Random) -> tuple[str, str]:
    return rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)


def pick_place(rng: random.Random, postcodes: dict[str, list[str]]) -> tuple[str, str, str]:
    """(house and street, city, postcode); postcodes are shared by neighbours (``postcodes`` per district
    grows as it is used, so a street has a handful of them)."""
    cities = list(PLACES)
    city = rng.choices(cities, weights=[PLACES[c][0] for c in cities])[0]
    district = rng.choice(PLACES[city][1])
    pool = postcodes.setdefault(district, [])
    if not pool or (len(pool) < 400 and rng.random() < 0.3):
        code = (
            f"{district} {rng.randrange(1, 10)}{rng.choice(POSTCODE_LETTERS)}{rng.choice(POSTCODE_LETTERS)}"
        )
        if code not in pool:
            pool.append(code)
        postcode = code
    else:
        postcode = rng.choice(pool)
    street_type = rng.choice(STREET_TYPES)[0]
    street = f"{rng.randrange(1, 180)} {rng.choice(STREETS)} {street_type}"
    return street, city, postcode


def pick_dob(rng: random.Random) -> date:
    return date(1950, 1, 1) + timedelta(days=rng.randrange(0, 56 * 365))


def pick_phone(rng: random.Random, used: set[str]) -> str:
    """A UK mobile number in E.164, unique in the world."""
    while True:
        number = f"+447{rng.randrange(100, 1000)}{rng.randrange(0, 1_000_000):06d}"
        if number not in used:
            used.add(number)
            return number


def crm_phone(e164: str) -> str:
    return f"{e164[:3]} {e164[3:7]} {e164[7:]}"  # +44 7700 900123


def till_phone(rng: random.Random, e164: str) -> str:
    national = "0" + e164[3:]
    return rng.choice((f"{national[:5]} {national[5:]}", national, f"({national[:5]}) {national[5:]}"))


def make_email(rng: random.Random, first: str, last: str, used: set[str]) -> str:
    base = f"{ascii_fold(first)}.{ascii_fold(last)}".replace(" ", "").replace("-", "")
    domain = rng.choice(("example.com", "example.net", "example.org", "mail.example.com"))
    style = rng.random()
    local = (
        base
        if style < 0.5
        else (base.replace(".", "") if style < 0.7 else f"{base[0]}.{base.split('.')[-1]}")
    )
    email = f"{local}@{domain}"
    n = 1
    while email in used:
        n += 1
        email = f"{local}{n if n > 2 else rng.randrange(10, 99)}@{domain}"
    used.add(email)
    return email


# -- typos ------------------------------------------------------------------------------------------------


def _letters(word: str) -> list[int]:
    return [i for i in range(1, len(word)) if word[i].isalpha()]


def transpose(rng: random.Random, word: str) -> str | None:
    spots = [i for i in range(1, len(word) - 1) if word[i] != word[i + 1] and word[i + 1].isalpha()]
    if not spots:
        return None
    i = rng.choice(spots)
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def drop_letter(rng: random.Random, word: str) -> str | None:
    spots = _letters(word)
    if len(word) < 4 or not spots:
        return None
    i = rng.choice(spots)
    return word[:i] + word[i + 1 :]


def double_letter(rng: random.Random, word: str) -> str | None:
    spots = _letters(word)
    if not spots:
        return None
    i = rng.choice(spots)
    return word[:i] + word[i] + word[i:]


def near_key(rng: random.Random, word: str) -> str | None:
    spots = [i for i in _letters(word) if word[i].lower() in _KEYBOARD_NEIGHBOURS]
    if not spots:
        return None
    i = rng.choice(spots)
    return word[:i] + rng.choice(_KEYBOARD_NEIGHBOURS[word[i].lower()]) + word[i + 1 :]


_NAME_TYPOS = (
    ("transposition", transpose),
    ("missing_letter", drop_letter),
    ("extra_letter", double_letter),
    ("wrong_key", near_key),
)


def _name_typo(rng: random.Random, word: str) -> tuple[str, str]:
    for kind, typo in rng.sample(_NAME_TYPOS, len(_NAME_TYPOS)):
        changed = typo(rng, word)
        if changed and changed != word:
            return kind, changed
    return "extra_letter", word + word[-1]


def misspell(rng: random.Random, record: Contact, record_id: str) -> tuple[Contact, list[dict[str, str]]]:
    """A till operator's copy of ``record``: at least one change to the name, usually one to the address,
    sometimes to the postcode, phone format or date of birth. Returns the copy and the list of
    ``{"field", "kind", "crm", "pos"}`` differences."""
    diffs: list[dict[str, str]] = []
    first, last = record.first_name, record.last_name
    roll = rng.random()
    if first in NICKNAMES and roll < 0.35:
        first = NICKNAMES[first]
        diffs.append({"field": "first_name", "kind": "nickname", "crm": record.first_name, "pos": first})
    elif roll < 0.7:
        kind, first = _name_typo(rng, first)
        diffs.append({"field": "first_name", "kind": kind, "crm": record.first_name, "pos": first})
    if not diffs or rng.random() < 0.3:
        kind, last = _name_typo(rng, last)
        diffs.append({"field": "last_name", "kind": kind, "crm": record.last_name, "pos": last})
    address = record.address
    if rng.random() < 0.85:
        number, _, rest = address.partition(" ")
        street, _, street_type = rest.rpartition(" ")
        if rng.random() < 0.6 and street_type in _ABBREVIATION:
            address = f"{number} {street} {_ABBREVIATION[street_type]}"
            diffs.append({"field": "address", "kind": "abbreviation", "crm": record.address, "pos": address})
        else:
            kind, typo_street = _name_typo(rng, street)
            address = f"{number} {typo_street} {street_type}"
            diffs.append({"field": "address", "kind": kind, "crm": record.address, "pos": address})
    postcode = record.postcode
    if rng.random() < 0.25:
        postcode = postcode.replace(" ", "") if rng.random() < 0.6 else postcode.lower()
        diffs.append({"field": "postcode", "kind": "formatting", "crm": record.postcode, "pos": postcode})
    dob = record.dob
    if dob is not None and dob.day <= 12 and dob.day != dob.month and rng.random() < 0.12:
        dob = date(dob.year, dob.day, dob.month)
        diffs.append({"field": "dob", "kind": "day_month_swapped", "crm": str(record.dob), "pos": str(dob)})
    elif rng.random() < 0.15:
        dob = None
        diffs.append({"field": "dob", "kind": "missing", "crm": str(record.dob), "pos": ""})
    copy = replace(
        record,
        record_id=record_id,
        first_name=first,
        last_name=last,
        address=address,
        postcode=postcode,
        dob=dob,
        customer_id=None,
    )
    return copy, diffs


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance with adjacent transpositions counting one (what a typo is)."""
    a, b = a.lower(), b.lower()
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[len(b)]


def pick_first_name_other_than(rng: random.Random, name: str) -> str:
    while True:
        other = rng.choice(FIRST_NAMES)
        if other != name and NICKNAMES.get(other) != NICKNAMES.get(name, name):
            return other
