"""Jane's world is built once per test run (imports and a real server take seconds); each test module
works on its own copy, so a module may change its config or run a server without affecting another."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import Home
from tests.profiles.world import World, build
from touchpoints.config import load_settings


@pytest.fixture(scope="session")
def built_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build(Path(tmp_path_factory.mktemp("jane")) / "home")


def copy_world(world: World, path: Path, config: str = "") -> World:
    shutil.copytree(world.home.path, path)
    (path / "server.log").unlink(missing_ok=True)
    if config:
        (path / "config.toml").write_text(config, encoding="utf-8")
    home = world.home
    return World(Home(load_settings(path), home.write_key, home.read_key, home.admin_key), world.web_key)
