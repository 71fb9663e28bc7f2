"""``touchpoints privacy retention``: delete what has outlived the home's ``[retention]`` rules."""

from __future__ import annotations

import click

from touchpoints.cli.common import audit, home_option, json_option, loaded_store, print_json, settings_for
from touchpoints.privacy.retention import RetentionReport, apply_retention, describe


@click.command("retention")
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing.")
@home_option
@json_option
def retention(dry_run: bool, home: str | None, as_json: bool) -> None:
    """Delete expired events, their message ids and expired quarantine items, by the [retention] rules
    of config.toml (the most specific wins: event name, source, type, default). Deletion is logical:
    `touchpoints privacy purge` rewrites the store so the bytes are gone too. The server does this by
    itself about once a day unless retention.automatic is false."""
    settings = settings_for(home)
    with loaded_store(settings) as db:
        report = apply_retention(db, settings.retention, dry_run=dry_run)
    if report.events and not dry_run:  # Spark's copy of the prepared events must not outlive them
        from touchpoints.store.spark import forget

        forget(settings.parquet_location)
    if not dry_run:
        audit(settings, "retention.apply", None, **report.counts())
    if as_json:
        print_json(report.as_dict())
        return
    _print(report)


def _print(report: RetentionReport) -> None:
    when = report.at.strftime("%Y-%m-%d %H:%M:%S UTC")
    click.echo(f"Retention at {when}{' (dry run: nothing deleted)' if report.dry_run else ''}")
    click.echo(f"  {'rule':<34} {'keep for':<12} {'older than':<12} {'expired':>10}")
    for outcome in report.rules:
        cutoff = outcome.cutoff.strftime("%Y-%m-%d") if outcome.cutoff else "-"
        click.echo(
            f"  {outcome.rule.label:<34} {describe(outcome.rule.ttl):<12} {cutoff:<12} {outcome.expired:>10,}"
        )
    verb = "Would delete" if report.dry_run else "Deleted"
    click.echo(
        f"{verb} {report.events:,} events, {report.message_ids:,} message ids and "
        f"{report.quarantine:,} quarantined items."
    )
