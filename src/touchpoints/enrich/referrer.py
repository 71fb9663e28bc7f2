"""Where a visit came from, as SQL over an event's context: the referrer's class and the UTM fields.

Classes: ``paid`` (a paid medium or an ad click id), ``email``, ``social``, ``search``, ``internal``
(the same site), ``referral`` (any other site), ``direct`` (no referrer, no campaign). A tagged link
wins over the referrer: utm_medium=email from a webmail page is email, not referral.
"""

from __future__ import annotations

SEARCH_HOSTS = (
    "google.", "bing.com", "duckduckgo.com", "search.yahoo.", "yahoo.com", "baidu.com", "yandex.",
    "ecosia.org", "search.brave.com", "qwant.com", "startpage.com", "naver.com", "seznam.cz",
)  # fmt: skip
SOCIAL_HOSTS = (
    "facebook.com", "fb.com", "instagram.com", "t.co", "twitter.com", "x.com", "linkedin.com", "lnkd.in",
    "pinterest.", "reddit.com", "tiktok.com", "youtube.com", "youtu.be", "threads.net", "bsky.app",
    "mastodon.", "snapchat.com", "whatsapp.com", "telegram.org", "t.me",
)  # fmt: skip
EMAIL_HOSTS = (
    "mail.google.com",
    "outlook.live.com",
    "outlook.office.com",
    "mail.yahoo.com",
    "mail.proton.me",
)
PAID_MEDIUMS = (
    "cpc", "ppc", "paid", "paidsearch", "paid_search", "paid-search", "cpm", "cpv", "display", "banner",
    "paid_social", "paidsocial", "paid-social", "retargeting", "affiliate",
)  # fmt: skip
SOCIAL_MEDIUMS = ("social", "social-network", "social-media", "sm", "social_network", "social_media")
EMAIL_MEDIUMS = ("email", "e-mail", "e_mail", "newsletter")
CLICK_IDS = ("gclid", "fbclid", "msclkid", "dclid", "ttclid", "li_fat_id", "wbraid", "gbraid")

UTM_FIELDS = ("source", "medium", "campaign", "term", "content")
_CAMPAIGN_KEY = {
    "source": "source",
    "medium": "medium",
    "campaign": "name",
    "term": "term",
    "content": "content",
}


def _host_match(host: str, patterns: tuple[str, ...]) -> str:
    parts = []
    for p in patterns:
        if p.endswith("."):
            parts.append(f"regexp_matches({host}, '(^|\\.){p.replace('.', '[.]')}')")
        else:
            parts.append(f"({host} = '{p}' OR ends_with({host}, '.{p}'))")
    return "(" + " OR ".join(parts) + ")"


def host_sql(url: str) -> str:
    """The lower-case host of a URL expression (no port, no leading www.)."""
    return f"nullif(regexp_replace(lower(regexp_extract({url}, '^[a-zA-Z][a-zA-Z0-9+.-]*://([^/?#:]+)', 1)), '^www[.]', ''), '')"


def utm_sql(field: str, context: str = "context") -> str:
    """A UTM field: from context.campaign (as analytics.js sends it), else from the page URL's query."""
    key = _CAMPAIGN_KEY[field]
    from_url = (
        f"nullif(url_decode(replace(regexp_extract(coalesce({context}->>'$.page.search', {context}->>'$.page.url'), "
        f"'[?&]utm_{field}=([^&#]*)', 1), '+', ' ')), '')"
    )
    return f"coalesce(nullif({context}->>'$.campaign.{key}', ''), {from_url})"


def _quoted(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def referrer_class_sql(
    ref_host: str, page_host: str, medium: str, query: str, utm_source: str, referrer: str = "NULL"
) -> str:
    """The class from columns computed once per row (the referrer's host, the page's host, the
    utm_medium, the page's query, the utm_source): parsing the context again in every branch made the
    view cost a third of a millisecond per event."""
    medium = f"replace(lower({medium}), ' ', '_')"
    click_ids = "|".join(CLICK_IDS)
    return (
        "CASE "
        f"WHEN {medium} IN ({_quoted(PAID_MEDIUMS)}) OR regexp_matches(coalesce({query}, ''), '[?&]({click_ids})=') "
        "THEN 'paid' "
        f"WHEN {medium} IN ({_quoted(EMAIL_MEDIUMS)}) OR {_host_match(ref_host, EMAIL_HOSTS)} "
        f"OR starts_with(coalesce({referrer}, ''), 'android-app://com.google.android.gm') THEN 'email' "
        f"WHEN {medium} IN ({_quoted(SOCIAL_MEDIUMS)}) OR {_host_match(ref_host, SOCIAL_HOSTS)} THEN 'social' "
        f"WHEN {medium} = 'organic' OR {_search_match(ref_host)} THEN 'search' "
        f"WHEN {ref_host} IS NOT NULL AND {ref_host} = {page_host} THEN 'internal' "
        f"WHEN {ref_host} IS NOT NULL OR {utm_source} IS NOT NULL THEN 'referral' "
        "ELSE 'direct' END"
    )


def _search_match(host: str) -> str:
    """Search engines' own hosts only: www.google.co.uk is search, accounts.google.com and docs.google.com
    are not, nor is google.evil.example."""
    return (
        f"regexp_full_match(coalesce({host}, ''), "
        "'(google|yandex)[.][a-z]{2,3}([.][a-z]{2})?|bing[.]com|duckduckgo[.]com|(search[.])?yahoo[.]com|"
        "search[.]yahoo[.][a-z.]+|baidu[.]com|ecosia[.]org|search[.]brave[.]com|qwant[.]com|startpage[.]com|"
        "search[.]naver[.]com|seznam[.]cz')"
    )
