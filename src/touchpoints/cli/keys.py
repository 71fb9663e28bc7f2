"""``touchpoints keys create|list|revoke``: API keys and their roles. Creating and revoking are written to the
audit log (``key.create``, ``key.revoke``: the key's id, name and role, never its secret), as through the
admin API (``/v1/keys``)."""

from __future__ import annotations

import click

from touchpoints.cli.common import audit, home_option, json_option, print_json, settings_for
from touchpoints.events.channel import CHANNELS
from touchpoints.privacy.keys import ROLES, KeyError_, KeyRing


@click.group()
def keys() -> None:
    """Create, list and revoke API keys (write: ingest; read: read data; admin: manage)."""


@keys.command("create")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the key may do.")
@click.option("--name", required=True, help="A name for the key; for write keys, the source name.")
@click.option("--channel", type=click.Choice(sorted(CHANNELS)), default=None,
              help="Write keys only: the channel of every event sent with this key.")  # fmt: skip
@home_option
@json_option
def create(role: str, name: str, channel: str | None, home: str | None, as_json: bool) -> None:
    """Create a key; its secret is printed once and never stored."""
    settings = settings_for(home)
    try:
        record, secret = KeyRing(settings.keys_path).create(role, name, channel)
    except KeyError_ as exc:
        raise click.ClickException(str(exc)) from exc
    audit(settings, "key.create", record.id, name=record.name, role=record.role, channel=record.channel)
    if as_json:
        print_json({"key": secret, **record.public()})
    else:
        click.echo(f"{role} key {record.id} ({record.name}): {secret}")
        click.echo("Keep it now: only its hash is stored.")


@keys.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include revoked keys.")
@home_option
@json_option
def list_keys(show_all: bool, home: str | None, as_json: bool) -> None:
    """List keys (never their secrets)."""
    settings = settings_for(home)
    records = [r for r in KeyRing(settings.keys_path).records() if show_all or r.active]
    if as_json:
        print_json([r.public() for r in records])
        return
    for r in records:
        state = f"revoked {r.revoked_at}" if r.revoked_at else "active"
        channel = f" channel={r.channel}" if r.channel else ""
        click.echo(f"{r.id}  {r.role:<5}  {r.name}{channel}  created {r.created_at}  {state}")


@keys.command("revoke")
@click.argument("key_id")
@home_option
@json_option
def revoke(key_id: str, home: str | None, as_json: bool) -> None:
    """Revoke a key by id or name; a running server refuses it at once."""
    settings = settings_for(home)
    try:
        record = KeyRing(settings.keys_path).revoke(key_id)
    except KeyError_ as exc:
        raise click.ClickException(str(exc)) from exc
    audit(settings, "key.revoke", record.id, name=record.name, role=record.role)
    if as_json:
        print_json(record.public())
    else:
        click.echo(f"revoked {record.id} ({record.name})")
