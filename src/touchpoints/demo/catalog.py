"""The demo retailer's fixed reference data: products, stores, places, names, campaigns, devices, wording.

Example Electronics sells TVs, audio, computers, phones and smart-home kit online (shop.example.com, an
iOS and an Android app) and in six stores. Everything here is constant; ``world`` draws from it with a
seeded generator. Addresses, phone numbers and e-mail domains are fictional (example.* domains, IP
addresses from the documentation ranges).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# The world ends here (no wall clock anywhere): a year of history, enough for churn and CLV models.
WORLD_END = datetime(2026, 10, 31, tzinfo=UTC)
WORLD_START = WORLD_END - timedelta(days=365)

SHOP = "https://shop.example.com"
SHOP_NAME = "Example Electronics"
CURRENCY = "GBP"
STORE_TIMEZONE = "Europe/London"  # the tills export local time without an offset


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    category: str
    price: float
    slug: str

    @property
    def path(self) -> str:
        return f"/p/{self.slug}"


def _p(sku: str, name: str, category: str, price: float) -> Product:
    slug = name.lower().replace(" ", "-").replace('"', "").replace("(", "").replace(")", "")
    return Product(sku, name, category, price, slug)


PRODUCTS: tuple[Product, ...] = (
    _p("sku-tv-55", "55-inch OLED TV", "TVs", 1299.0),
    _p("sku-tv-65", "65-inch OLED TV", "TVs", 1899.0),
    _p("sku-tv-43", "43-inch LED TV", "TVs", 449.0),
    _p("sku-tv-32", "32-inch Smart TV", "TVs", 229.0),
    _p("sku-sb-02", "Dolby Atmos Soundbar", "Audio", 399.0),
    _p("sku-hp-01", "Noise-cancelling Headphones", "Audio", 249.0),
    _p("sku-eb-03", "Wireless Earbuds", "Audio", 129.0),
    _p("sku-sp-04", "Bluetooth Speaker", "Audio", 79.0),
    _p("sku-lp-14", "14-inch Laptop", "Computers", 999.0),
    _p("sku-lp-16", "16-inch Creator Laptop", "Computers", 1799.0),
    _p("sku-mn-27", "27-inch 4K Monitor", "Computers", 349.0),
    _p("sku-ms-01", "Wireless Mouse", "Computers", 29.0),
    _p("sku-kb-01", "Mechanical Keyboard", "Computers", 89.0),
    _p("sku-ph-15", "Smartphone 15", "Phones", 799.0),
    _p("sku-ph-a5", "Smartphone A5", "Phones", 299.0),
    _p("sku-cs-15", "Phone Case", "Phones", 19.0),
    _p("sku-ch-65", "65W USB-C Charger", "Phones", 35.0),
    _p("sku-gc-05", "Games Console", "Gaming", 479.0),
    _p("sku-gp-05", "Wireless Controller", "Gaming", 59.0),
    _p("sku-sh-01", "Smart Speaker", "Smart Home", 99.0),
    _p("sku-sh-02", "Video Doorbell", "Smart Home", 149.0),
    _p("sku-sh-03", "Smart Bulb Starter Kit", "Smart Home", 69.0),
    _p("sku-hd-01", "HDMI 2.1 Cable", "Accessories", 15.0),
    _p("sku-wm-01", "TV Wall Mount", "Accessories", 49.0),
)
BY_SKU = {p.sku: p for p in PRODUCTS}
CATEGORIES = tuple(dict.fromkeys(p.category for p in PRODUCTS))
ACCESSORIES = ("sku-hd-01", "sku-wm-01", "sku-cs-15", "sku-ch-65", "sku-ms-01", "sku-gp-05")
SEARCHES = {
    "TVs": ("oled tv", "55 inch tv", "smart tv", "4k tv deals"),
    "Audio": ("soundbar", "headphones", "wireless earbuds", "bluetooth speaker"),
    "Computers": ("laptop", "4k monitor", "keyboard", "laptop for students"),
    "Phones": ("smartphone", "phone case", "usb-c charger"),
    "Gaming": ("games console", "controller"),
    "Smart Home": ("smart speaker", "video doorbell", "smart bulbs"),
    "Accessories": ("hdmi cable", "wall mount"),
}

# (store id, name, city); city names match PLACES.
STORES: tuple[tuple[str, str, str], ...] = (
    ("store-001", "London Oxford Street", "London"),
    ("store-002", "Manchester Arndale", "Manchester"),
    ("store-003", "Leeds Briggate", "Leeds"),
    ("store-004", "Bristol Cabot Circus", "Bristol"),
    ("store-005", "Glasgow Buchanan Street", "Glasgow"),
    ("store-006", "Birmingham Bullring", "Birmingham"),
)
STORE_OF_CITY = {city: store_id for store_id, _, city in STORES}
# city -> postcode districts (weights: London is the biggest)
PLACES: dict[str, tuple[int, tuple[str, ...]]] = {
    "London": (34, ("N1", "N7", "E2", "E17", "SE15", "SE22", "SW4", "SW11", "NW3", "NW6", "W5", "W12")),
    "Manchester": (16, ("M1", "M4", "M14", "M16", "M20", "M21")),
    "Leeds": (12, ("LS1", "LS6", "LS8", "LS11", "LS17")),
    "Bristol": (12, ("BS1", "BS3", "BS6", "BS7", "BS8")),
    "Glasgow": (12, ("G1", "G3", "G11", "G12", "G41")),
    "Birmingham": (14, ("B1", "B13", "B15", "B17", "B29", "B30")),
}
POSTCODE_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"

# Street names and types; the long type and the abbreviation a till operator types.
STREETS = (
    "High",
    "Station",
    "Church",
    "Park",
    "Victoria",
    "Mill",
    "Manor",
    "Kings",
    "Queens",
    "New",
    "School",
    "Albert",
    "York",
    "Springfield",
    "Grange",
    "Windsor",
    "Richmond",
    "Chester",
    "Orchard",
    "Meadow",
    "Elm",
    "Oak",
    "Beech",
    "Cedar",
    "Willow",
    "Highfield",
    "Alexandra",
    "North",
    "South",
    "Westbourne",
    "Belmont",
    "Clarence",
    "Stanley",
    "Cromwell",
    "Lansdowne",
    "Fairfield",
    "Hawthorn",
    "Chapel",
    "Market",
    "Brook",
    "Cherry",
    "Holly",
    "Linden",
    "Rosebery",
    "Sandringham",
    "Tennyson",
    "Wordsworth",
    "Ashgrove",
)
STREET_TYPES = (
    ("Street", "St"),
    ("Road", "Rd"),
    ("Avenue", "Ave"),
    ("Lane", "Ln"),
    ("Drive", "Dr"),
    ("Close", "Cl"),
    ("Crescent", "Cres"),
    ("Gardens", "Gdns"),
    ("Terrace", "Terr"),
    ("Place", "Pl"),
    ("Grove", "Gr"),
)

# First names and the short forms people give at a till (the CRM holds the full one).
NICKNAMES = {
    "Jonathan": "Jon",
    "William": "Will",
    "Robert": "Rob",
    "Elizabeth": "Liz",
    "Katherine": "Kate",
    "Margaret": "Maggie",
    "Michael": "Mike",
    "Christopher": "Chris",
    "Alexander": "Alex",
    "Daniel": "Dan",
    "Thomas": "Tom",
    "James": "Jim",
    "Samuel": "Sam",
    "Benjamin": "Ben",
    "Matthew": "Matt",
    "Nicholas": "Nick",
    "Jennifer": "Jen",
    "Rebecca": "Becky",
    "Victoria": "Vicky",
    "Jessica": "Jess",
    "Abigail": "Abby",
    "Samantha": "Sam",
    "Patricia": "Pat",
    "Susan": "Sue",
    "Anthony": "Tony",
    "Edward": "Ed",
    "Richard": "Rick",
    "Eleanor": "Ellie",
    "Josephine": "Jo",
    "Frederick": "Fred",
    "Theodore": "Theo",
    "Isabella": "Bella",
    "Zachary": "Zach",
    "Joseph": "Joe",
    "Stephanie": "Steph",
    "Deborah": "Debbie",
    "Gregory": "Greg",
    "Timothy": "Tim",
    "Andrew": "Andy",
    "Catherine": "Cathy",
}
FIRST_NAMES = (
    *NICKNAMES,
    "Priya",
    "Mohammed",
    "Aisha",
    "Wei",
    "Sofia",
    "Lucas",
    "Emma",
    "Noah",
    "Oliver",
    "Amelia",
    "Fatima",
    "Omar",
    "Yusuf",
    "Ananya",
    "Raj",
    "Siobhan",
    "Niamh",
    "Callum",
    "Ewan",
    "Isla",
    "Freya",
    "Harry",
    "George",
    "Jack",
    "Grace",
    "Chloe",
    "Lily",
    "Ruby",
    "Ella",
    "Mia",
    "Leo",
    "Arthur",
    "Oscar",
    "Archie",
    "Hannah",
    "Laura",
    "Sarah",
    "David",
    "Paul",
    "Mark",
    "Peter",
    "Ian",
    "Kevin",
    "Claire",
    "Helen",
    "Nicola",
    "Joanne",
    "Lisa",
    "Michelle",
    "Zoë",
    "Renée",
    "José",
    "Björn",
    "Agnieszka",
    "Tomasz",
    "Olumide",
    "Chiamaka",
    "Kwame",
    "Mei",
    "Hiroshi",
    "Lars",
    "Ingrid",
    "Dimitri",
    "Aoife",
    "Rhys",
)
LAST_NAMES = (
    "Smith",
    "Jones",
    "Williams",
    "Taylor",
    "Brown",
    "Davies",
    "Evans",
    "Wilson",
    "Thomas",
    "Johnson",
    "Roberts",
    "Robinson",
    "Thompson",
    "Wright",
    "Walker",
    "White",
    "Edwards",
    "Hughes",
    "Green",
    "Hall",
    "Lewis",
    "Harris",
    "Clarke",
    "Patel",
    "Jackson",
    "Wood",
    "Turner",
    "Martin",
    "Cooper",
    "Hill",
    "Ward",
    "Morris",
    "Moore",
    "Clark",
    "Lee",
    "King",
    "Baker",
    "Harrison",
    "Morgan",
    "Allen",
    "James",
    "Scott",
    "Phillips",
    "Watson",
    "Davis",
    "Parker",
    "Price",
    "Bennett",
    "Young",
    "Griffiths",
    "Mitchell",
    "Kelly",
    "Cook",
    "Carter",
    "Richardson",
    "Bailey",
    "Collins",
    "Bell",
    "Shaw",
    "Murphy",
    "Miller",
    "Cox",
    "Richards",
    "Khan",
    "Marshall",
    "Anderson",
    "Simpson",
    "Ellis",
    "Adams",
    "Singh",
    "Begum",
    "Wilkinson",
    "Foster",
    "Chapman",
    "Powell",
    "Webb",
    "Rogers",
    "Gray",
    "Mason",
    "Ali",
    "Hunt",
    "Hussain",
    "Campbell",
    "Matthews",
    "Owen",
    "Palmer",
    "Holmes",
    "Mills",
    "Barnes",
    "Knight",
    "Lloyd",
    "Butler",
    "Russell",
    "Barker",
    "Fisher",
    "Stevens",
    "Jenkins",
    "Murray",
    "Dixon",
    "Harvey",
    "Nguyen",
    "Chen",
    "Kowalski",
    "Rossi",
    "Müller",
    "O'Brien",
    "García",
    "Okafor",
    "Nowak",
    "Fernandes",
    "MacDonald",
    "Smith-Jones",
)
EMAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example.com", "post.example.net")
SOCIAL_PLATFORMS = ("instagram", "x", "tiktok", "facebook")

# Where web visits come from: (weight, source, medium, campaign, referrer); None source: direct.
ARRIVALS: tuple[tuple[int, str | None, str | None, str | None, str | None], ...] = (
    (30, None, None, None, None),
    (22, "google", "organic", None, "https://www.google.com/"),
    (5, "bing", "organic", None, "https://www.bing.com/"),
    (12, "google", "cpc", "always-on-search", "https://www.google.com/"),
    (6, "instagram", "social", "new-audio", "https://l.instagram.com/"),
    (4, "facebook", "social", "new-audio", "https://m.facebook.com/"),
    (
        4,
        "gadgetreview",
        "display",
        "best-tvs-2026",
        "https://www.gadgetreview.example/reviews/best-oled-tvs-2026",
    ),
    (3, "pricecompare", "affiliate", "price-watch", "https://www.pricecompare.example/tvs"),
)
# The year's e-mail campaigns: (campaign id, name, subject, send time, the product it features).
EMAIL_CAMPAIGNS: tuple[tuple[str, str, str, datetime, str], ...] = (
    (
        "em-2025-11-black-friday",
        "Black Friday",
        "Black Friday starts now: up to 40% off TVs",
        datetime(2025, 11, 27, 7, 0, tzinfo=UTC),
        "sku-tv-65",
    ),
    (
        "em-2025-12-gifts",
        "Christmas gifts",
        "Gifts they'll love, delivered by Christmas",
        datetime(2025, 12, 9, 7, 0, tzinfo=UTC),
        "sku-eb-03",
    ),
    (
        "em-2026-01-sale",
        "January sale",
        "The January sale: laptops from £499",
        datetime(2026, 1, 2, 7, 0, tzinfo=UTC),
        "sku-lp-14",
    ),
    (
        "em-2026-03-spring",
        "Spring smart home",
        "Make your home smarter this spring",
        datetime(2026, 3, 17, 7, 0, tzinfo=UTC),
        "sku-sh-02",
    ),
    (
        "em-2026-06-summer",
        "Summer of sport",
        "Watch every match in 4K",
        datetime(2026, 6, 4, 7, 0, tzinfo=UTC),
        "sku-tv-55",
    ),
    (
        "em-2026-09-autumn",
        "Autumn TV event",
        "Our autumn TV event: OLED for less",
        datetime(2026, 9, 22, 7, 0, tzinfo=UTC),
        "sku-tv-55",
    ),
)
# QR codes printed in the stores: (placement, the product page it opens).
QR_PLACEMENTS = (("tv-wall", "sku-tv-55"), ("audio-bar", "sku-sb-02"), ("checkout-desk", "sku-sh-01"))

WEB_LIBRARIES = ({"name": "analytics.js", "version": "5.2.0"}, {"name": "touchpoints.js", "version": "0.1.0"})
IOS_LIBRARY = {"name": "analytics-ios", "version": "4.1.8"}
ANDROID_LIBRARY = {"name": "analytics-android", "version": "4.11.3"}
APP = {"name": "Example Electronics", "version": "3.4.1", "build": "3041", "namespace": "com.example.shop"}

DESKTOP_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
)
MOBILE_AGENTS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.6723.86 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.6723.86 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
)
IOS_DEVICES = (("iPhone15,3", "18.1"), ("iPhone14,5", "17.6"), ("iPhone16,1", "18.0"))
ANDROID_DEVICES = (("Pixel 8", "Google", "14"), ("SM-S921B", "samsung", "14"), ("CPH2449", "OnePlus", "13"))
IP_PREFIXES = ("203.0.113.", "198.51.100.", "192.0.2.")  # RFC 5737 documentation ranges

CENSUS_BANDS = (
    "Urban professionals",
    "Young families",
    "Students and starters",
    "Comfortable suburbs",
    "Retired communities",
    "Multicultural metropolitan",
)
INCOME_BANDS = ("under 20k", "20-35k", "35-50k", "50-75k", "75k and over")

TICKET_TOPICS: dict[str, tuple[str, ...]] = {
    "delivery": ("Where is my order?", "Delivery missed", "Parcel arrived damaged"),
    "returns": ("How do I return an item?", "Refund not received yet", "Return label request"),
    "product": ("TV has no sound", "Laptop will not charge", "Earbuds keep disconnecting"),
    "billing": ("Charged twice", "Discount code not applied", "Invoice request"),
    "account": ("Cannot log in", "Update my address", "Loyalty points missing"),
}
AGENTS = ("Aaliyah", "Ben", "Carmen", "Dev", "Erin", "Farid", "Gwen")

# Survey comments, review wording and social posts by the customer's attitude.
SURVEY_COMMENTS = {
    "promoter": (
        "Great service, staff really knew their stuff.",
        "Fast delivery and a great price. Love it!",
        "Excellent, would definitely recommend to friends.",
        "Brilliant experience from start to finish.",
    ),
    "passive": (
        "It was fine, delivery took a bit long.",
        "Okay overall, nothing special.",
        "Decent prices but the website was slow.",
        "Good product, average service.",
    ),
    "detractor": (
        "Terrible experience, my order arrived broken.",
        "Awful customer service, nobody called back.",
        "Very disappointed, the refund took weeks.",
        "Poor quality and rude staff. Never again.",
    ),
}
REVIEW_TEXT = {
    5: ("Outstanding", "Absolutely love it, excellent picture and easy setup."),
    4: ("Very good", "Really good value, works well. Minor niggles with the remote."),
    3: ("It's okay", "Does the job but nothing special for the price."),
    2: ("Disappointing", "Stopped working properly after two weeks, quite disappointed."),
    1: ("Avoid", "Terrible. Arrived faulty and the return was a nightmare."),
}
SOCIAL_TEXT = {
    "promoter": (
        "Loving my new {product} from @ExampleElectronics 😍",
        "Big thanks to the team at {store}, top service!",
    ),
    "passive": (
        "Picked up a {product} at @ExampleElectronics, we'll see how it goes",
        "Queue at {store} today was long, but ok",
    ),
    "detractor": (
        "@ExampleElectronics still waiting for my refund on the {product}. Not happy.",
        "Worst service ever at {store} 😡",
    ),
}
NOISE_POSTS = (
    "Anyone tried the {product} from @ExampleElectronics? Worth it?",
    "Unboxing the {product} on stream tonight #ad @ExampleElectronics",
    "@ExampleElectronics Black Friday deals are actually decent this year",
)
