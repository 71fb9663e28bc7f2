"""Settings: the home's location and config.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from touchpoints.config import CONFIG_TEMPLATE, ConfigError, Settings, load_settings, resolve_home


def test_home_precedence(tmp_path: Path) -> None:
    assert resolve_home(tmp_path / "flag", {"TOUCHPOINTS_HOME": "/elsewhere"}) == tmp_path / "flag"
    assert resolve_home(None, {"TOUCHPOINTS_HOME": str(tmp_path / "env")}) == tmp_path / "env"
    assert resolve_home(None, {}) == Path(".touchpoints").absolute()


def test_the_template_written_by_init_holds_the_defaults(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(CONFIG_TEMPLATE)
    assert load_settings(tmp_path) == Settings(home=tmp_path)


def test_every_setting_is_documented_in_the_template() -> None:
    from touchpoints.config import _SECTIONS

    for section, keys in _SECTIONS.items():
        assert f"[{section}]" in CONFIG_TEMPLATE
        for key in keys:
            assert f"\n{key} = " in CONFIG_TEMPLATE, f"{section}.{key} is not in config.toml's template"


def test_settings_are_read(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        '[collector]\ncors_origins = ["https://a.example"]\ndedup_window_days = 30\n[loader]\ninterval_seconds = 1\n'
    )
    settings = load_settings(tmp_path)
    assert settings.cors_origins == ("https://a.example",)
    assert settings.dedup_window_days == 30.0
    assert settings.loader_interval_seconds == 1.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[collector]\nmax_events = 3\n", "unknown setting collector.max_events"),
        ("[colector]\n", "unknown section [colector]"),
        ("[collector]\nmax_batch_events = -1\n", "must be a positive integer"),
        ("[collector]\ncors_origins = 'x'\n", "must be a list of strings"),
        ("[collector\n", "not valid TOML"),
    ],
)
def test_a_bad_setting_is_named(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "config.toml").write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        load_settings(tmp_path)


def test_identity_rules_are_read(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        '[identity]\nlimits = { user_id = 1, email = 3 }\nblocked_values = ["Kiosk-7"]\n'
        'custom_identifiers = ["crm_id"]\nphone_region = "gb"\npriority = ["email", "user_id"]\n'
    )
    rules = load_settings(tmp_path).identity
    assert rules.limits == {"user_id": 1, "email": 3}
    assert rules.is_blocked("KIOSK-7") and rules.is_blocked("null")  # added to the built-in placeholders
    assert rules.custom == ("crm_id",) and rules.phone_region == "GB"
    assert rules.priority[:2] == ("email", "user_id") and "crm_id" in rules.priority  # the rest follow
    assert rules.normalise("phone", "07700 900123") == "+447700900123"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("limits = { user_id = 0 }", "identity.limits must map"),
        ("limits = { shoe_size = 1 }", "identity.limits must map"),
        ('priority = ["user_id", "shoe_size"]', "identity.priority has unknown kinds ['shoe_size']"),
        ('custom_identifiers = ["email"]', "must be a trait name"),
        ('phone_region = "Britain"', "two-letter region code"),
        ("match_threshold = 1.5", "identity.match_threshold must be a probability"),
        ("match_threshold = 0.7", "review_threshold must not be above"),
        ("merge_everything = true", "unknown setting identity.merge_everything"),
    ],
)
def test_a_bad_identity_rule_is_named(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "config.toml").write_text(f"[identity]\n{text}\n")
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_settings(tmp_path)
