"""Hashed identifiers for ad platforms: each platform's own published examples, normalised and hashed
exactly as the platform's documentation shows them."""

from __future__ import annotations

import hashlib

import pytest

from touchpoints.privacy.hashing import hashed, is_sha256_hex, normalise

# Meta, "Customer information parameters" (Conversions API; Custom Audiences hash the same way):
# https://developers.facebook.com/docs/marketing-api/conversions-api/parameters/customer-information-parameters
# em: "John_Smith@gmail.com" -> "john_smith@gmail.com" -> 62a14e44...
# ph: US phone number "(650)555-1212" -> "16505551212" -> e323ec62...
META_EMAIL = ("John_Smith@gmail.com", "john_smith@gmail.com",
              "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f")  # fmt: skip
META_PHONE = (
    "(650)555-1212",
    "16505551212",
    "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176",
)

# Google, Data Manager API (the API behind Customer Match and enhanced conversions), "Send audience
# members": the sample members as given, formatted, and hashed (hex).
# https://developers.google.com/data-manager/api/devguides/audiences/send-audience-members
GOOGLE_MEMBERS = [
    ("email", "dana@example.com", "dana@example.com", "07e2f1394b0ea80e2adca010ea8318df697001a005ba7452720edda4b0ce57b3"),
    ("email", "DanaM@example.com", "danam@example.com", "1df6b43bc68dd38eca94e6a65b4f466ae537b796c81a526918b40ac4a7b906c7"),
    ("email", "ALEXF@example.com", "alexf@example.com", "19de0a9906ebee29fe82087be5ec44f3c01e40730bc808b663c71f19dd6b12f2"),
    ("email", "AlexF@cymbalgroup.com", "alexf@cymbalgroup.com", "7d2d80e240594dcee2e57f57885ee286c4b232dd142234d7a0af6d31cc86679b"),
    ("email", "alexF@altostrat.com", "alexf@altostrat.com", "063c45291827d4994f98357b72862b25885834fd53cf8f0e4af359916fc03c62"),
    ("phone", "+1-800-555-0100", "+18005550100", "fb4f73a6ec5fdb7077d564cdd22c3554b43ce49168550c3b12c547b78c517b30"),
    ("phone", "+1 800-555-0101", "+18005550101", "61d6c2976b5d92b1ad63073a12fddd26040cd980067d03a93dd1cc50f1a3ac68"),
    ("phone", "+1 800-555-0102", "+18005550102", "c5383c2eeada28210d27f011bc127d4f9562cf38ff0c9bba33dd45ae79b9fe7c"),
    ("email", "quinn@CYMBALGROUP.com", "quinn@cymbalgroup.com", "05bb62526f091b45d20e243d194766cca8869137421047dc53fa4876d111a6f0"),
    ("email", "baklavainthebalkans@gmail.com", "baklavainthebalkans@gmail.com", "f1fcde379f31f4d446b76ee8f34860eca2288adc6b6d6c0fdc56d9eee75a2fa5"),
    ("email", "rosario@example.org", "rosario@example.org", "83a834cc5327bc4dee7c5408988040dc5813c7662611cd93b707aff72bf7d33f"),
    ("email", "cloudySanFrancisco@GMAIL.com", "cloudysanfrancisco@gmail.com", "223ebda6f6889b1494551ba902d9d381daf2f642bae055888e96343d53e9f9c4"),
    ("phone", "+1-800-555-0110", "+18005550110", "525c2390a4e2a9766fa8ddc341dd10414603baebefa401f5a5e29f55e176525d"),
]  # fmt: skip

# Google, Data Manager API "Format user data": the normalisation examples (no hashes are given there).
# https://developers.google.com/data-manager/api/devguides/concepts/formatting
GOOGLE_FORMATTING = [
    ("email", "cloudy.sanfrancisco+shopping@gmail.com", "cloudysanfrancisco@gmail.com"),
    ("email", "user.name+NYC@Example.com", "user.name+nyc@example.com"),
    ("phone", "(800)555-0100", "+18005550100"),  # a US number
]


def test_meta_published_email_example() -> None:
    raw, normal, digest = META_EMAIL
    assert normalise("meta", "email", raw) == normal
    assert hashed("meta", "email", raw) == digest
    assert hashed("meta", "email", f"  {raw.upper()} ") == digest  # trimmed and lower-cased


def test_meta_published_phone_example() -> None:
    raw, normal, digest = META_PHONE
    assert normalise("meta", "phone", raw, region="US") == normal
    assert hashed("meta", "phone", raw, region="US") == digest
    # Written with its country code, the region is not needed; a 00 prefix is a country code too.
    for written in ("+1 (650) 555-1212", "+1-650-555-1212", "001 650 555 1212"):
        assert hashed("meta", "phone", written) == digest, written


@pytest.mark.parametrize(("kind", "raw", "normal", "digest"), GOOGLE_MEMBERS)
def test_google_published_audience_member_examples(kind: str, raw: str, normal: str, digest: str) -> None:
    assert normalise("google", kind, raw) == normal
    assert hashed("google", kind, raw) == digest


@pytest.mark.parametrize(("kind", "raw", "normal"), GOOGLE_FORMATTING)
def test_google_published_formatting_examples(kind: str, raw: str, normal: str) -> None:
    assert normalise("google", kind, raw, region="US") == normal


def test_a_gmail_address_with_dots_and_a_tag_hashes_as_googles_published_member() -> None:
    """The formatting guide's example address is the quickstart's member 4, whose hash is published."""
    assert hashed("google", "email", "cloudy.sanfrancisco+shopping@gmail.com") == GOOGLE_MEMBERS[11][3]
    assert (
        hashed("google", "email", " Cloudy.SanFrancisco@GoogleMail.com")
        == hashlib.sha256(b"cloudysanfrancisco@googlemail.com").hexdigest()
    )


def test_meta_keeps_what_google_removes() -> None:
    """Meta asks only for trim and lower case; E.164 keeps its + for Google only."""
    assert normalise("meta", "email", "cloudy.sanfrancisco+shopping@gmail.com") == (
        "cloudy.sanfrancisco+shopping@gmail.com"
    )
    assert normalise("meta", "phone", "+1-800-555-0100") == "18005550100"
    assert normalise("google", "phone", "+1-800-555-0100") == "+18005550100"


def test_a_value_already_hashed_is_not_hashed_again() -> None:
    digest = META_EMAIL[2]
    assert is_sha256_hex(digest.upper())
    assert hashed("meta", "email", digest.upper()) == digest
    assert hashed("google", "phone", f" {digest} ") == digest
    assert hashed("meta", "email", hashed("meta", "email", META_EMAIL[0])) == digest


@pytest.mark.parametrize(
    ("platform", "kind", "raw"),
    [
        ("meta", "email", "not an address"),
        ("google", "email", "@gmail.com"),
        ("google", "email", "+tag@gmail.com"),  # nothing left of the local part
        ("meta", "phone", "12"),
        ("meta", "phone", "(650)555-1212"),  # no country code and no region: it could be anyone's
        ("google", "phone", ""),
        ("google", "email", None),
    ],
)
def test_what_matches_no_one_is_not_hashed(platform: str, kind: str, raw: str | None) -> None:
    assert hashed(platform, kind, raw) is None


def test_an_unknown_platform_or_kind_is_named() -> None:
    with pytest.raises(ValueError, match="'tiktok'"):
        hashed("tiktok", "email", "a@b.co")
    with pytest.raises(ValueError, match="'address'"):
        hashed("meta", "address", None)
