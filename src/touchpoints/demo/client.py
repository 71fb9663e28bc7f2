"""The demo world's side of a build, as a process of its own: ``python -m touchpoints.demo.client < JOB``.

It plans the world from the seed, then at once: renders the online events and sends them to the
collector over HTTP, makes the e-mail opens, e-mail clicks and QR scans through the link endpoints, and
writes the offline files (saying so at once: they can be imported meanwhile); then writes the ground
truth (``ground_truth.partial.json``: Jane's imported and link touchpoints get their ids once the store
has them) and prints what it sent, as JSON lines (see ``say``).

Running apart from the collector is what real clients do, and on two cores it leaves the collector's
interpreter to the collector. JOB, on standard input (the write key stays off the command line), is a
JSON object: ``url``, ``write_key``, ``customers``, ``seed``, ``folder``, and ``links`` (as
``ensure_links`` returns them), or null not to send the link hits (``link_hits`` then gives their counts).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

PARTIAL_TRUTH = "ground_truth.partial.json"


def _timed(
    name: str, timings: dict[str, float], errors: list[BaseException], work: Callable[[], None]
) -> threading.Thread:
    def run() -> None:
        began = time.perf_counter()
        try:
            work()
        except BaseException as exc:  # raised by the caller after join
            errors.append(exc)
        timings[name] = round(time.perf_counter() - began, 2)

    thread = threading.Thread(target=run, name=f"demo-{name}", daemon=True)
    thread.start()
    return thread


def run(job: dict[str, Any]) -> dict[str, Any]:
    from touchpoints.demo.files import write_files
    from touchpoints.demo.online import Event, online_events, plan_hits
    from touchpoints.demo.stream import hit_links, send
    from touchpoints.demo.truth import ground_truth
    from touchpoints.demo.world import build_world

    timings: dict[str, float] = {}
    errors: list[BaseException] = []
    began = time.perf_counter()
    world = build_world(int(job["customers"]), int(job["seed"]))
    timings["plan"] = round(time.perf_counter() - began, 2)
    by_channel: Counter[str] = Counter()
    story: dict[str, tuple[str, str]] = {}
    sent: dict[str, int] = {}
    rendered = threading.Event()

    def send_online() -> None:
        def events() -> Iterator[Event]:
            yield from online_events(world, by_channel, story)
            rendered.set()

        sent.update(send(job["url"], job["write_key"], events()))

    hits = plan_hits(world, job["links"]) if job.get("links") else []
    # what the link hits store, by channel (given by the job when they were sent to this home before)
    link_hits: dict[str, int] = (
        dict(Counter(hit.channel for hit in hits)) if hits else dict(job.get("link_hits") or {})
    )
    threads = [_timed("online_events", timings, errors, send_online)]
    if hits:

        def follow_links() -> None:
            hit_links(job["url"], hits, job["write_key"])

        threads.append(_timed("link_hits", timings, errors, follow_links))
    folder = Path(job["folder"])
    began = time.perf_counter()
    files = write_files(world, folder)
    timings["write_files"] = round(time.perf_counter() - began, 2)
    say({"phase": "files", "rows": files.rows})
    while not rendered.wait(0.1):
        if errors or not threads[0].is_alive():
            break
    if not errors:
        began = time.perf_counter()
        truth = ground_truth(world, files, dict(by_channel), story, link_hits)
        truth["link_hits"] = link_hits
        with (folder / PARTIAL_TRUTH).open("w", encoding="utf-8") as fh:
            json.dump(truth, fh, ensure_ascii=False)
        timings["truth"] = round(time.perf_counter() - began, 2)
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return {"phase": "done", "sent": sent, "link_hits": link_hits, "files": files.rows, "timings": timings}


def say(message: dict[str, Any]) -> None:
    """One JSON line on standard output: ``{"phase": "files"}`` once the files are written (they can be
    imported while the events are still being sent), then ``{"phase": "done", ...}``."""
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main() -> int:
    say(run(json.loads(sys.stdin.read())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
