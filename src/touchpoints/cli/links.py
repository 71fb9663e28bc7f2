"""``touchpoints links create|allow|list``: campaigns, their destinations, and the links to them."""

from __future__ import annotations

import click

from touchpoints.cli.common import home_option, json_option, print_json, settings_for
from touchpoints.links.registry import LINK_CHANNELS, LinkError, LinkRegistry


@click.group()
def links() -> None:
    """Click-redirect links for emails, QR codes, ads and partner sites, and the email open pixel."""


@links.command("create")
@click.option("--campaign", required=True, help="The campaign the link belongs to, e.g. spring-tv.")
@click.option("--to", "destination", required=True, help="Where the link goes (an http(s) URL).")
@click.option("--channel", type=click.Choice(LINK_CHANNELS), default="email", show_default=True)
@click.option(
    "--placement", default=None, help="Where the link is shown, e.g. shelf-aisle-3 or header-banner."
)
@click.option("--base-url", default="http://127.0.0.1:8000", show_default=True,
              help="The collector's public address, to print the full link.")  # fmt: skip
@home_option
@json_option
def create(campaign: str, destination: str, channel: str, placement: str | None, base_url: str,
           home: str | None, as_json: bool) -> None:  # fmt: skip
    """Create a link; its destination is registered for the campaign."""
    settings = settings_for(home)
    try:
        link = LinkRegistry(settings.links_path).create_link(campaign, destination, channel, placement)
    except LinkError as exc:
        raise click.ClickException(str(exc)) from exc
    base = base_url.rstrip("/")
    data = {
        "id": link.id,
        "campaign": link.campaign,
        "destination": link.destination,
        "channel": link.channel,
        "placement": link.placement,
        "url": f"{base}{link.path}",
        "pixel": f"{base}/o/{link.campaign}.gif" if channel == "email" else None,
    }
    if as_json:
        print_json(data)
        return
    click.echo(f"link {link.id} -> {link.destination}")
    click.echo(f"  url:   {data['url']}" + ("?u={userId}&e={email_id}" if channel == "email" else ""))
    if data["pixel"]:
        click.echo(f"  pixel: {data['pixel']}?u={{userId}}&e={{email_id}}")


@links.command("allow")
@click.argument("campaign")
@click.argument("destination")
@home_option
def allow(campaign: str, destination: str, home: str | None) -> None:
    """Register another DESTINATION for CAMPAIGN (a link may then pass ?to=DESTINATION)."""
    settings = settings_for(home)
    try:
        found = LinkRegistry(settings.links_path).allow(campaign, destination)
    except LinkError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"campaign {found.name}: {len(found.destinations)} registered destinations")


@links.command("list")
@click.option("--campaign", default=None)
@home_option
@json_option
def list_cmd(campaign: str | None, home: str | None, as_json: bool) -> None:
    """List links (of one campaign)."""
    registry = LinkRegistry(settings_for(home).links_path)
    found = registry.links(campaign)
    if as_json:
        print_json([link.__dict__ for link in found])
        return
    for link in found:
        click.echo(f"{link.id}  {link.channel:<8} {link.campaign:<20} {link.destination}")
    if not found:
        click.echo("no links yet: `touchpoints links create --campaign NAME --to URL`")
