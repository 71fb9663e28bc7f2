"""``touchpoints init``: create a home with its store, configuration, a write key and an admin key."""

from __future__ import annotations

import click

from touchpoints.cli.common import create_home, home_option, json_option, print_json, settings_for
from touchpoints.privacy.keys import KeyRing


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
    create_home(settings)
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
