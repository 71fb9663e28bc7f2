"""``touchpoints init``: create a home with its store, configuration, a write key and an admin key."""

from __future__ import annotations

import click

from touchpoints.cli.common import home_option, json_option, print_json, settings_for
from touchpoints.config import CONFIG_TEMPLATE
from touchpoints.privacy.keys import KeyRing
from touchpoints.store.duckdb import open_store


@click.command()
@home_option
@json_option
def init(home: str | None, as_json: bool) -> None:
    """Create a Touchpoints home: store, config.toml, a write key and an admin key (shown once)."""
    settings = settings_for(home, must_exist=False)
    if settings.is_initialised:
        raise click.ClickException(
            f"{settings.home} is already a Touchpoints home; create more keys with `touchpoints keys create`"
        )
    settings.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not settings.config_path.exists():
        settings.config_path.write_text(CONFIG_TEMPLATE, encoding="utf-8")
    with open_store(settings.store_path):
        pass
    keys = KeyRing(settings.keys_path)
    _, write_key = keys.create("write", "default")
    _, admin_key = keys.create("admin", "admin")
    if as_json:
        print_json({"home": str(settings.home), "write_key": write_key, "admin_key": admin_key})
        return
    click.echo(f"Created a Touchpoints home at {settings.home}")
    click.echo(f"  write key (send events):      {write_key}")
    click.echo(f"  admin key (manage the home):  {admin_key}")
    click.echo("These keys are shown only now; only their hashes are kept. Next: `touchpoints serve`.")
