"""Building the demo world into a home, through the real collector, link endpoints and importers.

``build(settings, server_url, write_key, customers, seed, ...)``, with the collector running: registers
the e-mail and QR links, runs the world's side in a process of its own (``client``: it plans the world,
sends the online events and the link hits over HTTP and writes the offline files and the truth), imports
the files as soon as they are written (``run_import``, what ``touchpoints import`` runs) while events are
still arriving, waits for the loader, looks up Jane's touchpoints in the store, writes
``<home>/demo/ground_truth.json`` and returns a summary with where the time went.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from touchpoints.config import Settings
from touchpoints.demo.catalog import BY_SKU, EMAIL_CAMPAIGNS, QR_PLACEMENTS, SHOP, STORES
from touchpoints.demo.client import PARTIAL_TRUTH
from touchpoints.demo.evaluate import matching_quality
from touchpoints.demo.files import IMPORTS
from touchpoints.identity.matching import MatchError
from touchpoints.identity.resolve import resolve
from touchpoints.privacy.gate import Gate
from touchpoints.sources.importer import ImportOptions, run_import
from touchpoints.store.backend import Backend
from touchpoints.store.duckdb import open_store

TRUTH_FILE = "ground_truth.json"


class DemoError(RuntimeError):
    """The demo cannot be built here, with the reason."""


QR_CAMPAIGN = "in-store-qr"


def demo_folder(settings: Settings) -> Path:
    return settings.home / "demo"


def ensure_links(settings: Settings) -> dict[str, dict[str, str]]:
    """The e-mail campaigns' links (``email``: campaign index -> link id) and the stores' QR codes
    (``qr``: "<store id>/<placement index>" -> link id), created once per home and reused."""
    from touchpoints.links.registry import LinkRegistry

    registry = LinkRegistry(settings.links_path)

    def link(campaign: str, destination: str, channel: str, placement: str | None) -> str:
        for existing in registry.links(campaign):
            if (existing.destination, existing.channel, existing.placement) == (
                destination,
                channel,
                placement,
            ):
                return existing.id
        return registry.create_link(campaign, destination, channel, placement).id

    email = {}
    for k, (campaign_id, _name, _subject, _sent, feature) in enumerate(EMAIL_CAMPAIGNS):
        utm = urlencode({"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": campaign_id})
        email[str(k)] = link(campaign_id, f"{SHOP}{BY_SKU[feature].path}?{utm}", "email", None)
    qr = {}
    for store_id, _name, _city in STORES:
        for p, (placement, sku) in enumerate(QR_PLACEMENTS):
            utm = urlencode({"utm_source": "in-store", "utm_medium": "qr", "utm_campaign": QR_CAMPAIGN})
            qr[f"{store_id}/{p}"] = link(
                QR_CAMPAIGN, f"{SHOP}{BY_SKU[sku].path}?{utm}", "qr", f"{store_id}/{placement}"
            )
    return {"email": email, "qr": qr}


def _previous_truth(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def resolve_jane(db: Backend, truth: dict[str, Any]) -> None:
    """Fills each of Jane's touchpoints with the messageId and time it has in the store."""
    for step in truth["jane"]["story"]:
        locate = step.get("locate")
        if step.get("message_id") and (locate is None or "message_id" in locate):
            rows = db.execute(
                "SELECT message_id, timestamp FROM events WHERE message_id = ?", [step["message_id"]]
            )
        elif locate is not None and "anonymous_id" in locate:
            rows = db.execute(
                "SELECT message_id, timestamp FROM events WHERE source = ? AND event = ? AND anonymous_id = ? "
                "ORDER BY timestamp LIMIT 1",
                [locate["source"], locate["event"], locate["anonymous_id"]],
            )
        elif locate is not None:
            rows = db.execute(
                "SELECT message_id, timestamp FROM events WHERE source = ? AND properties->>('$.' || ?) = ? "
                "ORDER BY timestamp LIMIT 1",
                [locate["source"], locate["property"], locate["value"]],
            )
        else:
            rows = []
        if rows:
            step["message_id"] = rows[0][0]
            step["stored_at"] = rows[0][1].isoformat().replace("+00:00", "Z")
        else:
            step["stored_at"] = None


def import_files(settings: Settings, folder: Path, rows: dict[str, int]) -> dict[str, Any]:
    """Imports the world's files, as ``touchpoints import`` does; the result of each by file name. A file
    with no rows (a tiny world has no reviews, say) is left out: JSON Lines without a line has no columns."""
    imports: dict[str, Any] = {}
    with open_store(settings.store_path) as db:
        for spec in IMPORTS:
            if not rows.get(spec.file):
                continue
            opts = ImportOptions(
                kind=spec.kind,
                path=folder / spec.file,
                source=spec.source,
                channel=spec.channel,
                timezone=spec.timezone,
                key=spec.key,
                rules=settings.identity,
            )
            imports[spec.file] = run_import(db, opts).as_dict()
    return imports


def build(
    settings: Settings,
    server_url: str,
    write_key: str,
    customers: int,
    seed: int,
    wait_loaded: Callable[[], None],
    say: Callable[[str], None] = lambda _msg: None,
) -> dict[str, Any]:
    """Builds the world into the home behind ``server_url`` (a collector running on ``settings``' home,
    with nothing else writing to it); ``wait_loaded`` returns once its loader has stored everything
    acknowledged. Returns the summary (see the module doc)."""
    timings: dict[str, Any] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 2)
        clock = now

    folder = demo_folder(settings)
    previous = _previous_truth(folder / TRUTH_FILE)
    with open_store(settings.store_path) as db:
        before = db.execute("SELECT count(*) FROM events")[0][0]
    links = ensure_links(settings)
    again = previous is not None and previous.get("seed") == seed and previous.get("customers") == customers
    if previous is not None and not again:
        # Two worlds in one store would make the ground truth wrong for both.
        raise DemoError(
            f"{settings.home} holds the demo world of seed {previous.get('seed')} with {previous.get('customers')} "
            f"customers; build seed {seed} with {customers} customers in another --home (or delete this one)"
        )
    sent_before = previous.get("link_hits") if again and previous is not None else None
    # The world's side runs in a process of its own (it builds the same world from the seed): it sends the
    # online events and the link hits and writes the files, while this process serves.
    say(
        f"Building a world of {customers} customers (seed {seed}): sending its online events to {server_url} "
        f"and writing its files into {folder} ..."
    )
    job = {
        "url": server_url,
        "write_key": write_key,
        "customers": customers,
        "seed": seed,
        "folder": str(folder),
        "links": None if sent_before else links,
        "link_hits": sent_before,
    }
    if sent_before:
        say(
            "(the e-mail opens, clicks and QR scans were sent to this home before: the link endpoints give each "
            "hit a fresh id, so they are not sent again)"
        )
    imports: dict[str, Any] = {}
    result: dict[str, Any] = {}
    with subprocess.Popen(
        [sys.executable, "-m", "touchpoints.demo.client"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as client:
        try:
            assert client.stdin is not None and client.stdout is not None
            client.stdin.write(json.dumps(job))
            client.stdin.close()
            for line in client.stdout:
                message = json.loads(line)
                if message["phase"] == "files":
                    # The files are written: import them while the events are still arriving (the
                    # importer and the loader append to the store side by side).
                    lap("client_files")
                    say(f"Importing the files in {folder} ...")
                    imports = import_files(settings, folder, message["rows"])
                    lap("import")
                elif message["phase"] == "done":
                    result = message
        finally:
            if client.poll() is None and not result:
                client.kill()
    if client.returncode != 0 or not result:
        raise RuntimeError(f"the demo's client process failed (exit status {client.returncode}); see above")
    timings["client"] = result["timings"]
    lap("client_done")
    wait_loaded()
    lap("wait_for_loader")
    partial = folder / PARTIAL_TRUTH
    truth = json.loads(partial.read_text(encoding="utf-8"))
    with open_store(settings.store_path) as db:
        # Probabilistic matching of the contact records, as `touchpoints identity resolve` runs it, and
        # how well the graph found the world's people.
        try:
            with db.transaction():
                resolved = resolve(db, settings.identity)
        except MatchError as exc:  # a world too small to train a model on
            resolved = {"skipped": str(exc), "merged": 0, "queued_for_review": 0}
        identity = {
            "resolve": {k: v for k, v in resolved.items() if k != "refusals"},
            "matching": matching_quality(db, truth),
            "customers": db.execute("SELECT count(DISTINCT customer_id) FROM identities")[0][0],
        }
        gate = Gate.for_settings(settings)
        consent = {
            purpose: db.execute(f"SELECT count(*) FROM ({gate.customers_sql(purpose)})")[0][0]
            for purpose in ("marketing", "personalisation")
        }
        lap("resolve")
        analytics = _checkout_funnel(db, gate, truth)
        lap("analytics")
        value = _customer_value(db, gate)
        lap("value")
        resolve_jane(db, truth)
        stored = dict(db.execute("SELECT channel, count(*) FROM events GROUP BY 1 ORDER BY 2 DESC, 1"))
        by_type = dict(db.execute("SELECT type, count(*) FROM events GROUP BY 1 ORDER BY 2 DESC, 1"))
        people = db.execute("SELECT count(DISTINCT user_id) FROM events WHERE user_id IS NOT NULL")[0][0]
        total = db.execute("SELECT count(*) FROM events")[0][0]
        held = db.execute("SELECT count(*) FROM quarantine WHERE status = 'held'")[0][0]
    path = folder / TRUTH_FILE
    with partial.open("w", encoding="utf-8") as fh:
        json.dump(truth, fh, ensure_ascii=False, indent=1 if customers <= 5000 else None)
        fh.write("\n")
    partial.replace(path)
    lap("truth")
    sent = result["sent"]
    link_hits = result["link_hits"]
    return {
        "home": str(settings.home),
        "customers": truth["customers"],
        "seed": seed,
        "sent": sent["sent"],
        "accepted": sent["accepted"],
        "quarantined": sent["quarantined"],
        "link_hits": link_hits,
        "imports": imports,
        "stored_events": total - before,
        "events_in_store": total,
        "quarantine_held": held,
        "identified_customers": people,
        "identity": identity,
        "consent": consent,
        "analytics": analytics,
        "value": value,
        "by_channel": stored,
        "by_type": by_type,
        "ground_truth": str(path),
        "files": str(folder),
        "timings": timings,
    }


def _customer_value(db: Any, gate: Gate) -> dict[str, Any]:
    """Every customer's value scores, as `touchpoints value refresh` makes them, as of the world's last day
    (so the same seed gives the same scores whatever day the demo is built)."""
    from touchpoints.predictive.value import refresh

    last = db.execute("SELECT max(timestamp)::DATE FROM events")[0][0]
    report = refresh(db, gate, as_of=last)
    return {
        k: report.get(k)
        for k in ("as_of", "model", "customers", "orders", "currency", "segments", "spenders")
    }


def _checkout_funnel(db: Any, gate: Gate, truth: dict[str, Any]) -> dict[str, Any]:
    """The online checkout funnel as the analytics find it in the store, next to the planted figures."""
    from touchpoints.analytics import prepared
    from touchpoints.analytics.common import Scope
    from touchpoints.analytics.engine import duckdb_engine
    from touchpoints.analytics.funnel import funnel

    ready = prepared.rebuild(db, gate)
    steps = [truth["funnel"]["checkout"]["from"], truth["funnel"]["checkout"]["to"]]
    online = Scope(channels=tuple(truth["funnel"]["channels"]))
    with duckdb_engine(db) as eng:
        sessions = funnel(eng, steps, "400d", online, unit="session")["steps"]
        customers = funnel(eng, steps, "400d", online)["steps"]
    return {
        "prepared_events": ready.rows,
        "checkout_sessions": {"started": sessions[0]["customers"], "completed": sessions[1]["customers"]},
        "checkout_customers": {"started": customers[0]["customers"], "completed": customers[1]["customers"]},
        "planted": truth["funnel"]["checkout"],
    }
