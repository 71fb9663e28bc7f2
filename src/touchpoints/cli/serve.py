"""``touchpoints serve``: run the collector on an existing home."""

from __future__ import annotations

import socket

import click

from touchpoints.cli.common import home_option, settings_for
from touchpoints.collector.spool import Spool


@click.command()
@home_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
def serve(home: str | None, host: str, port: int) -> None:
    """Serve the collector (Segment-compatible /v1/ endpoints) on an existing home."""
    from touchpoints.collector.app import create_app
    from touchpoints.collector.server import make_server

    settings = settings_for(home)
    running = Spool.writer_pid(settings.spool_dir)
    if running:
        raise click.ClickException(
            f"a Touchpoints server (pid {running}) is already collecting into {settings.home}; "
            "stop it first, or use another --home"
        )
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port"
        ) from exc
    click.echo(f"Touchpoints collector for {settings.home} on http://{host}:{port} (API docs at /docs)")
    make_server(create_app(settings), host, port).run()
