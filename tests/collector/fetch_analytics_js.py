"""Fetches Segment's analytics.js (``@segment/analytics-next``), its browser build, for test_analytics_js.py.

    python3 tests/collector/fetch_analytics_js.py    # the standard library only; needs npm

The package comes from the npm registry with ``npm pack`` (no install, no dependencies: the browser build
is self-contained), pinned to one version and checked against its sha512 integrity. Only ``dist/umd``
(the standalone and UMD bundles and their lazily loaded chunks) and the licence are kept, in
``.cache/analytics-next/<version>/``, outside the tracked files: it is a third-party build, never
committed. Idempotent: nothing is downloaded when that folder is already complete. The tests never
download anything; without this folder they skip (or fail, with TOUCHPOINTS_REQUIRE_BROWSER=1).
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "@segment/analytics-next"
VERSION = "1.84.3"
INTEGRITY = "sha512-5l7cPBzScxhfJ0zdcKQI4daDvMIWWUk7hClT1xGRelnHUltIEoQ9w8+ZpFPoWJMpX8D7IA1nVAfJbpiKi3XaKw=="
ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "analytics-next" / VERSION
DIST = CACHE / "umd"  # index.js (UMD: window.AnalyticsNext), standalone.js (the snippet's), *.bundle.*.js
MARKER = CACHE / "fetched.json"  # the folder is staged, then moved in whole: with this, it is complete


def is_fetched() -> bool:
    return MARKER.is_file() and (DIST / "index.js").is_file() and (DIST / "standalone.js").is_file()


def fetch() -> Path:
    if is_fetched():
        return DIST
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm is not installed: install Node.js (e.g. apt-get install npm)")
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [npm, "pack", "--json", "--pack-destination", tmp, f"{PACKAGE}@{VERSION}"],
            check=True,
            capture_output=True,
            text=True,
            cwd=tmp,
        ).stdout
        [packed] = json.loads(out)
        tarball = Path(tmp) / packed["filename"]
        digest = "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
        if digest != INTEGRITY:
            raise SystemExit(f"{PACKAGE}@{VERSION}: integrity {digest} is not the pinned {INTEGRITY}")
        staging = Path(tmp) / VERSION
        (staging / "umd").mkdir(parents=True)
        with tarfile.open(tarball) as tar:
            for member in tar.getmembers():
                folder, _, name = member.name.rpartition("/")
                if not member.isfile() or name.endswith((".map", ".gz")):
                    continue
                if folder == "package/dist/umd":
                    target = staging / "umd" / name
                elif member.name == "package/LICENSE.MD":
                    target = staging / name
                else:
                    continue
                source = tar.extractfile(member)
                assert source is not None
                target.write_bytes(source.read())
        (staging / MARKER.name).write_text(
            json.dumps({"package": PACKAGE, "version": VERSION, "integrity": INTEGRITY}) + "\n"
        )
        if CACHE.exists():
            shutil.rmtree(CACHE)
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(staging, CACHE)
    return DIST


if __name__ == "__main__":
    dist = fetch()
    print(f"{PACKAGE}@{VERSION}: {dist.relative_to(ROOT)}", file=sys.stderr)
