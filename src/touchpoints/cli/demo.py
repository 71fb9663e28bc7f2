"""``touchpoints demo``: build the seeded demo world through the real collector and importers, and serve it."""

from __future__ import annotations

import time

import click

from touchpoints.cli.common import create_home, home_option, json_option, print_json, settings_for
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
    """Build a seeded retailer with CUSTOMERS customers across web, app, e-mail, stores, loyalty, support,
    surveys, reviews and social: online events over HTTP, offline files through the importers, and the
    planted ground truth in <home>/demo/ground_truth.json. Then serve it, unless --no-serve."""
    from touchpoints.collector.server import BackgroundServer
    from touchpoints.demo.build import DemoError, build

    settings = settings_for(home, must_exist=False)
    running = Spool.writer_pid(settings.spool_dir)
    if running:
        raise click.ClickException(
            f"a Touchpoints server (pid {running}) is already collecting into {settings.home}; "
            "stop it first, or use another --home"
        )
    if not settings.is_initialised:
        create_home(settings)
        # The demo world's shops and customers are in Britain: their phone numbers are written "07700 ...".
        # Its CRM is the system of record: a till sign-up's hurried typing does not overwrite its names.
        config = settings.config_path.read_text(encoding="utf-8")
        for default, demo_value in (
            ('# phone_region = "US"', 'phone_region = "GB"  # set by the demo: its world is British'),
            ('trait_precedence = "latest"', 'trait_precedence = "source_priority"  # set by the demo'),
            ("source_priority = []", 'source_priority = ["crm"]  # set by the demo'),
        ):
            config = config.replace(default, demo_value)
        settings.config_path.write_text(config, encoding="utf-8")
        settings = settings_for(home, must_exist=False)
    keys = KeyRing(settings.keys_path)
    for record in keys.records():
        if record.name == "demo" and record.active:
            keys.revoke(record.id)
    _, write_key = keys.create("write", "demo")

    started = time.perf_counter()
    say = (lambda _msg: None) if as_json else click.echo
    with BackgroundServer(settings, host, 0 if no_serve else port) as server:
        loader = server.app.state.loader

        def wait_loaded() -> None:
            while loader.has_pending():
                time.sleep(0.05)

        try:
            summary = build(settings, server.url, write_key, customers, seed, wait_loaded, say)
        except DemoError as exc:
            raise click.ClickException(str(exc)) from exc
        summary["seconds"] = round(time.perf_counter() - started, 2)
        if as_json:
            print_json(summary)
        else:
            _show(summary)
        if no_serve:
            return
        click.echo(f"\nServing {server.url} (API docs: {server.url}/docs). Send an event:")
        click.echo(f"  curl -u '{write_key}:' {server.url}/v1/track -H 'Content-Type: application/json' \\")
        click.echo('       -d \'{"userId": "user-000001", "event": "Hello"}\'')
        click.echo(f"Then: touchpoints events count --by channel --home {settings.home}   (Ctrl-C to stop)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            click.echo("stopping")


def _show(summary: dict[str, object]) -> None:
    imports = summary["imports"]
    assert isinstance(imports, dict)
    imported = sum(int(r["imported"]) for r in imports.values() if r["kind"] != "enrichment")
    held = sum(int(r["quarantined"]) for r in imports.values())
    click.echo(
        f"Stored {summary['stored_events']} new events in {summary['seconds']} s: {summary['accepted']} online "
        f"over HTTP, {imported} from {len(imports)} files ({held} rows held in quarantine on purpose), and the "
        f"link hits {summary['link_hits']}."
    )
    click.echo(
        f"The store holds {summary['events_in_store']} events, {summary['identified_customers']} user ids."
    )
    by_channel = summary["by_channel"]
    assert isinstance(by_channel, dict)
    click.echo("By channel: " + ", ".join(f"{k} {v}" for k, v in by_channel.items()))
    identity = summary["identity"]
    assert isinstance(identity, dict)
    resolved, matching = identity["resolve"], identity["matching"]
    click.echo(
        f"Identity: {identity['customers']} customers; matching merged {resolved['merged']} record pairs and "
        f"queued {resolved['queued_for_review']} for review (touchpoints identity review). Against the planted "
        f"truth: precision {matching['precision']:.3f}, recall {matching['recall']:.3f}, F1 {matching['f1']:.3f}."
    )
    consent = summary["consent"]
    assert isinstance(consent, dict)
    click.echo(
        f"Consent: {consent['marketing']} customers allow marketing, {consent['personalisation']} "
        f"personalisation (touchpoints audiences export --format meta --out audience.csv --home {summary['home']})."
    )
    analytics = summary["analytics"]
    assert isinstance(analytics, dict)
    found, planted = analytics["checkout_sessions"], analytics["planted"]
    rate = 1 - found["completed"] / found["started"] if found["started"] else 0.0
    click.echo(
        f"Analytics: {found['started']} online checkouts started, {found['completed']} completed: "
        f"{rate:.1%} abandoned (planted: {planted['abandonment_rate']:.1%} of {planted['started']}); "
        f"{analytics['checkout_customers']['started']} customers started one."
    )
    click.echo(f"  touchpoints analytics funnel --steps 'Product Viewed,Checkout Started,Order Completed' "
               f"--home {summary['home']}")  # fmt: skip
    value = summary.get("value")
    if isinstance(value, dict) and value.get("customers"):
        segments = value.get("segments") or {}
        spenders = value.get("spenders") or {}
        click.echo(
            f"Value: {value['customers']} customers with purchases scored as of {value['as_of']} (CLV, P(alive), "
            f"churn risk): {segments.get('Champions', 0)} Champions, {segments.get('At risk', 0)} at risk, "
            f"{spenders.get('future_spender', 0)} future spenders (touchpoints value report --home {summary['home']})."
        )
    click.echo(f"Jane Doe's profile: touchpoints profiles show jane.doe@example.com --home {summary['home']}")
    click.echo(f"Everything held about her: touchpoints privacy export jane.doe@example.com --out jane.json "
               f"--home {summary['home']}")  # fmt: skip
    click.echo(f"Files:        {summary['files']}")
    click.echo(f"Ground truth: {summary['ground_truth']}")
