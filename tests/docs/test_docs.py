"""The generated parts of the docs match the code they describe."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from touchpoints.events import spec
from touchpoints.sources import kinds

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.mark.parametrize(
    ("marker", "render"), [("catalogue", spec.render_markdown), ("kinds", kinds.render_markdown)]
)
def test_generated_tables_in_events_md_are_current(marker: str, render: object) -> None:
    text = (DOCS / "events.md").read_text(encoding="utf-8")
    found = re.search(rf"<!-- {marker}:start[^>]*-->\n(.*?)<!-- {marker}:end -->", text, re.S)
    assert found, f"docs/events.md lost its {marker} markers"
    assert found.group(1) == render(), f"docs/events.md is stale: regenerate the {marker} table"  # type: ignore[operator]


def test_every_event_an_importer_makes_is_in_the_catalogue() -> None:
    made = {name for names in kinds._EVENT_NAMES.values() for name in names} | {
        "Order Completed",
        "Order Refunded",
    }
    assert made <= set(spec.BY_NAME)
