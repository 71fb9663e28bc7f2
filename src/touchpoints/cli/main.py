"""The ``touchpoints`` command group."""

from __future__ import annotations

import logging

import click

from touchpoints import __version__
from touchpoints.cli.analytics import analytics
from touchpoints.cli.audiences import audiences
from touchpoints.cli.churn import churn
from touchpoints.cli.clv import clv
from touchpoints.cli.demo import demo
from touchpoints.cli.events import events
from touchpoints.cli.identity import identity
from touchpoints.cli.imports import import_file
from touchpoints.cli.init import init
from touchpoints.cli.keys import keys
from touchpoints.cli.links import links
from touchpoints.cli.privacy import privacy
from touchpoints.cli.profiles import profiles
from touchpoints.cli.quarantine import quarantine
from touchpoints.cli.serve import serve
from touchpoints.cli.value import value


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="touchpoints")
def cli() -> None:
    """Touchpoints: open-source customer tracking on an embedded DuckDB store."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


for command in (init, serve, keys, links, events, import_file, quarantine, identity, profiles, privacy, demo):
    cli.add_command(command)
cli.add_command(audiences)
cli.add_command(analytics)
cli.add_command(clv)
cli.add_command(churn)
cli.add_command(value)
