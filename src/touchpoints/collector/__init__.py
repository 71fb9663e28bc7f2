"""The HTTP collector: Segment-spec ingest endpoints, write-key auth, limits, the durable spool, the loader.

``app`` builds the ASGI app; ``body`` reads bodies within limits (gzip-bomb safe); ``auth`` finds the write
key; ``spool`` makes accepted events durable before they are acknowledged; ``loader`` moves them into the
store; ``server`` runs it all under uvicorn. May import ``config``, ``events``, ``store`` and ``privacy``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from touchpoints.collector.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # The web framework is imported only by what serves HTTP, so CLI commands start in a fraction of the time.
    if name == "create_app":
        from touchpoints.collector.app import create_app

        return create_app
    raise AttributeError(name)
