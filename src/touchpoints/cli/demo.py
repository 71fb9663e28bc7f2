"""``touchpoints demo``: build the seeded demo world through the real collector, show it, and serve it."""

from __future__ import annotations

import time

import click

from touchpoints.cli.common import (
    create_home,
    home_option,
    json_option,
    loaded_store,
    print_json,
    settings_for,
)
from touchpoints.collector.spool import Spool
from touchpoints.privacy.keys import KeyRing


@click.command()
@click.option("--customers", default=2000, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--seed", default=42, show_default=True, type=int, help="Same seed, same world.")
@click.option("--no-serve", is_flag=True, help="Build the world, print the summary and exit.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@home_option
@json_option
def demo(customers: int, seed: int, no_serve: bool, host: str, port: int, home: str | None,
         as_json: bool) -> None:  # fmt: skip
    """Send a seeded stream of customer events through the real HTTP collector and show what landed."""
    from touchpoints.collector.server import BackgroundServer
    from touchpoints.demo.stream import generate_events, send

    settings = settings_for(home, must_exist=False)
    running = Spool.writer_pid(settings.spool_dir)
    if running:
        raise click.ClickException(
            f"a Touchpoints server (pid {running}) is already collecting into {settings.home}; "
            "stop it first, or use another --home"
        )
    if not settings.is_initialised:
        create_home(settings)
    keys = KeyRing(settings.keys_path)
    for record in keys.records():
        if record.name == "demo" and record.active:
            keys.revoke(record.id)
    _, write_key = keys.create("write", "demo")

    with loaded_store(settings) as db:
        before = db.execute("SELECT count(*) FROM events")[0][0]
    started = time.perf_counter()
    events = generate_events(customers, seed)
    with BackgroundServer(settings, host, 0 if no_serve else port) as server:
        say = (lambda *_: None) if as_json else click.echo
        say(f"Sending {len(events)} events for {customers} customers to {server.url}/v1/batch ...")
        sent = send(server.url, write_key, events)
        # Everything acknowledged is on disk; wait for the loader to make it queryable.
        loader = server.app.state.loader
        while loader.has_pending():
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        with loaded_store(settings) as db:
            by_channel = dict(db.execute("SELECT channel, count(*) FROM events GROUP BY 1 ORDER BY 2 DESC"))
            by_type = dict(db.execute("SELECT type, count(*) FROM events GROUP BY 1 ORDER BY 2 DESC"))
            people = db.execute("SELECT count(DISTINCT user_id) FROM events WHERE user_id IS NOT NULL")[0][0]
            total = db.execute("SELECT count(*) FROM events")[0][0]
        summary = {
            "home": str(settings.home),
            "customers": customers,
            "seed": seed,
            "sent": sent["sent"],
            "accepted": sent["accepted"],
            "quarantined": sent["quarantined"],
            "stored_events": total - before,
            "events_in_store": total,
            "identified_customers": people,
            "by_channel": by_channel,
            "by_type": by_type,
            "seconds": round(elapsed, 2),
        }
        if as_json:
            print_json(summary)
        else:
            click.echo(f"Stored {total - before} new events ({sent['quarantined']} quarantined) in "
                       f"{elapsed:.1f} s; the store holds {total}, with {people} identified customers.")  # fmt: skip
            click.echo("By channel: " + ", ".join(f"{k} {v}" for k, v in by_channel.items()))
            click.echo("By type:    " + ", ".join(f"{k} {v}" for k, v in by_type.items()))
        if no_serve:
            return
        click.echo(f"\nServing {server.url} (API docs: {server.url}/docs). Send an event:")
        click.echo(f"  curl -u '{write_key}:' {server.url}/v1/track -H 'Content-Type: application/json' \\")
        click.echo('       -d \'{"userId": "user-00001", "event": "Hello"}\'')
        click.echo(f"Then: touchpoints events count --by channel --home {settings.home}   (Ctrl-C to stop)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            click.echo("stopping")
