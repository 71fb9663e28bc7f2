"""Probabilistic matching of contact records: Splink (Fellegi-Sunter) on a DuckDB of its own.

Records come in as a ``pyarrow.Table`` with the columns of ``RECORD_COLUMNS`` (all text, only
``record_id`` required). The engine registers them in a private in-memory DuckDB (never the store's),
normalises names, e-mails, dates and addresses there, and runs Splink on it:

- ``train(records)`` learns a model (u by seeded random sampling, the prior from exact e-mail or phone
  matches, m by expectation maximisation) and returns it as Splink's JSON-able settings dict. The model
  holds SQL conditions and probabilities only, never a value from the records (no term-frequency tables).
- ``predict(records, model)`` scores the blocked pairs and returns those at or above a match probability.
- ``explain(records, model, a, b)`` says, comparison by comparison, why two records match or not.
- ``clusters_from_pairs`` and ``pairwise_scores`` turn pairs into people and measure them against a truth.
"""

from __future__ import annotations

import copy
import logging
import math
import re
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from splink.internals.duckdb.database_api import DuckDBAPI

__all__ = [
    "MIN_TRAINING_RECORDS",
    "RECORD_COLUMNS",
    "MatchError",
    "PairwiseScores",
    "clusters_from_pairs",
    "count_comparisons",
    "explain",
    "explanation_text",
    "pairwise_scores",
    "predict",
    "train",
]

RECORD_COLUMNS = (
    "record_id",
    "source",
    "first_name",
    "last_name",
    "email",
    "phone",
    "dob",
    "address",
    "postcode",
    "city",
)
# Below this, random pairs are too few to estimate u and duplicates too few for EM to find m.
MIN_TRAINING_RECORDS = 100
# A comparison joins the model only when this share of records has a value for it: a column that is
# (almost) always empty leaves its levels unobserved, and Splink would fall back to made-up defaults.
_MIN_FILLED_SHARE = 0.02
# The prior comes from exact e-mail or phone matches (and name plus date of birth), assumed to find
# about this share of all true duplicates.
_DETERMINISTIC_RECALL = 0.7
_MODEL_UID = "touchpoints_matching"


class MatchError(Exception):
    """The records or the model cannot be matched as asked; the message says why and what to do."""


# Common English nicknames and short forms, so "Bob" meets "Robert" at a level of its own.
_NICKNAMES: dict[str, tuple[str, ...]] = {
    "abigail": ("abby", "abbie", "abi"),
    "alexander": ("alex", "sandy", "xander"),
    "alexandra": ("alex", "sandra", "lexi"),
    "andrew": ("andy", "drew"),
    "anthony": ("tony", "ant"),
    "benjamin": ("ben", "benny"),
    "catherine": ("cathy", "cath", "kate", "katie", "kat"),
    "charles": ("charlie", "chas", "chuck"),
    "christopher": ("chris", "kit"),
    "daniel": ("dan", "danny"),
    "david": ("dave", "davy"),
    "deborah": ("debbie", "deb"),
    "edward": ("ed", "eddie", "ted", "ned"),
    "eleanor": ("ellie", "nell", "nora"),
    "elizabeth": ("liz", "lizzie", "beth", "betty", "eliza", "libby"),
    "frederick": ("fred", "freddie"),
    "gregory": ("greg",),
    "henry": ("harry", "hal"),
    "isabella": ("bella", "izzy"),
    "james": ("jim", "jimmy", "jamie"),
    "jennifer": ("jen", "jenny"),
    "jessica": ("jess", "jessie"),
    "john": ("jack", "johnny"),
    "jonathan": ("jon", "jonny"),
    "joseph": ("joe", "joey"),
    "josephine": ("jo", "josie"),
    "katherine": ("kathy", "kate", "katie", "kat"),
    "lawrence": ("larry", "laurie"),
    "margaret": ("maggie", "meg", "peggy", "marge"),
    "matthew": ("matt",),
    "michael": ("mike", "mick", "mickey"),
    "nicholas": ("nick", "nicky"),
    "patricia": ("pat", "patty", "trish"),
    "patrick": ("pat", "paddy"),
    "peter": ("pete",),
    "rebecca": ("becky", "becca"),
    "richard": ("rich", "rick", "dick", "richie"),
    "robert": ("rob", "bob", "bobby", "robbie", "bert"),
    "samuel": ("sam", "sammy"),
    "samantha": ("sam", "sammy"),
    "stephanie": ("steph", "steffi"),
    "stephen": ("steve", "stevie"),
    "steven": ("steve", "stevie"),
    "susan": ("sue", "susie"),
    "theodore": ("theo", "ted"),
    "thomas": ("tom", "tommy"),
    "timothy": ("tim", "timmy"),
    "victoria": ("vicky", "tori"),
    "william": ("will", "bill", "billy", "liam", "willy"),
    "zachary": ("zach", "zack"),
}


def _nickname_table() -> pa.Table:
    # A nickname shared by two formal names (kate, pat) maps to the first one: a cheap canonical form.
    canonical: dict[str, str] = {}
    for formal, shorts in _NICKNAMES.items():
        for short in shorts:
            canonical.setdefault(short, formal)
    return pa.table({"nickname": list(canonical), "canonical": list(canonical.values())})


# -- the comparisons -----------------------------------------------------------------------------


def _null(column: str) -> dict[str, Any]:
    return {
        "sql_condition": f'"{column}_l" IS NULL OR "{column}_r" IS NULL',
        "label_for_charts": f"{column} missing on either side",
        "is_null_level": True,
    }


def _level(sql: str, label: str) -> dict[str, Any]:
    return {"sql_condition": sql, "label_for_charts": label}


def _exact(column: str, label: str = "Exact match") -> dict[str, Any]:
    return _level(f'"{column}_l" = "{column}_r"', label)


def _jaro_winkler(column: str, at_least: float, label: str) -> dict[str, Any]:
    return _level(f'jaro_winkler_similarity("{column}_l", "{column}_r") >= {at_least}', label)


def _typo(column: str, label: str = "One typo (Damerau-Levenshtein <= 1)") -> dict[str, Any]:
    # DuckDB's damerau_levenshtein is about 6x slower than levenshtein, and a transposition is a
    # Levenshtein distance of 2: only pairs that close pay for the Damerau-Levenshtein test.
    sql = (
        f'CASE WHEN levenshtein("{column}_l", "{column}_r") <= 2 '
        f'THEN damerau_levenshtein("{column}_l", "{column}_r") <= 1 ELSE false END'
    )
    return _level(sql, label)


def _long_enough(level: dict[str, Any], column: str) -> dict[str, Any]:
    """``level``, for values of 5 characters or more on both sides."""
    cond = f'least(length("{column}_l"), length("{column}_r")) >= 5'
    return {**level, "sql_condition": f"({level['sql_condition']}) AND {cond}"}


def _short(sql: str, column: str) -> str:
    return f'({sql}) AND least(length("{column}_l"), length("{column}_r")) < 5'


def _one_different(column: str, label: str) -> dict[str, Any]:
    """Same length, one position different (a mistyped digit): a Hamming distance, cheap to compute."""
    sql = (
        f'CASE WHEN length("{column}_l") = length("{column}_r") '
        f'THEN hamming("{column}_l", "{column}_r") <= 1 ELSE false END'
    )
    return _level(sql, label)


# One first name begins the other: a short form the nickname table lacks (Jo, Josephine; Sam, Samantha).
_FIRST_NAME_SHORTENED = (
    'least(length("first_name_l"), length("first_name_r")) >= 2 '
    'AND (starts_with("first_name_l", "first_name_r") OR starts_with("first_name_r", "first_name_l"))'
)
_NAMES_SWAPPED = '"first_name_l" = "last_name_r" AND "last_name_l" = "first_name_r"'
# Two people of one household: the same address and surname (nearly), first names not alike at all.
_HOUSEHOLD = (
    'jaro_winkler_similarity("address_l", "address_r") >= 0.9 '
    'AND jaro_winkler_similarity("last_name_l", "last_name_r") >= 0.88 '
    'AND NOT (jaro_winkler_similarity("first_name_l", "first_name_r") >= 0.88 '
    'OR "first_name_canon_l" = "first_name_canon_r" OR damerau_levenshtein("first_name_l", "first_name_r") <= 1 '
    f"OR ({_FIRST_NAME_SHORTENED}))"
)
# Different addresses whose local parts hold a last name (either side's), with the same letters or
# nearly (Jaro-Winkler >= 0.88) and the same digits, at different domains.
_EMAIL_RESTATES_NAMES = (
    '"email_domain_l" <> "email_domain_r" '
    'AND "email_digits_l" IS NOT DISTINCT FROM "email_digits_r" '
    'AND (contains("email_letters_l", "last_name_l") OR contains("email_letters_r", "last_name_r")) '
    'AND jaro_winkler_similarity("email_letters_l", "email_letters_r") >= 0.88'
)
_SAME_DIGITS = '"email_digits_l" IS NOT DISTINCT FROM "email_digits_r"'
_ELSE = {"sql_condition": "ELSE", "label_for_charts": "All other"}


# Two records of one person with wholly different first names (not a typo, a nickname or a swap) are
# rare: a middle name used as the first, a name changed. Left to EM, this level's m is learned from the
# blocks, where family members (same surname, address, sometimes twins' date of birth) are the pairs
# with other first names, and on a few hundred records EM takes some of them for duplicates: the level
# then weighs only -3 bits against, and a household merges. Its m is fixed instead: about one
# duplicate in two thousand, some -11 bits, as much against as a shared address is for.
# A wholly different surname is likelier (a name taken at marriage), about one duplicate in a hundred;
# fixing it also keeps EM from driving its m to zero where the blocks hold no such duplicate (Splink
# refuses an m that underflows).
def _fixed_other(m: float) -> dict[str, Any]:
    return {
        "sql_condition": "ELSE",
        "label_for_charts": "All other",
        "m_probability": m,
        "fix_m_probability": True,
    }


_FIRST_NAMES_DIFFER = _fixed_other(0.0005)
_LAST_NAMES_DIFFER = _fixed_other(0.01)


def _comparison(
    column: str,
    description: str,
    levels: list[dict[str, Any]],
    null: dict[str, Any] | None = None,
    other: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "output_column_name": column,
        "comparison_description": description,
        "comparison_levels": [null or _null(column), *levels, other or _ELSE],
    }


def _comparisons() -> dict[str, dict[str, Any]]:
    """Every comparison the engine knows, by the column whose filling decides whether it is used."""
    dob_swapped = (
        'substr("dob_l", 1, 4) = substr("dob_r", 1, 4) AND substr("dob_l", 6, 2) = substr("dob_r", 9, 2) '
        'AND substr("dob_l", 9, 2) = substr("dob_r", 6, 2)'
    )
    postcode_area = (
        'left("postcode_l", greatest(length("postcode_l") - 3, 2)) = '
        'left("postcode_r", greatest(length("postcode_r") - 3, 2))'
    )
    return {
        "first_name": _comparison(
            "first_name",
            "First name",
            [
                _exact("first_name"),
                _exact("first_name_canon", "Same name up to a nickname"),
                _level(_FIRST_NAME_SHORTENED, "One begins the other (a short form)"),
                _level(_NAMES_SWAPPED, "First and last names swapped"),
                # A letter more or less in a short name is often another name (Joe and Jose, Jon and
                # Jan): short names get a level of their own, whose weight EM learns apart.
                _long_enough(_typo("first_name"), "first_name"),
                _level(
                    _short(_typo("first_name")["sql_condition"], "first_name"),
                    "One typo in a name of 4 letters or fewer",
                ),
                _long_enough(_jaro_winkler("first_name", 0.88, "Jaro-Winkler >= 0.88"), "first_name"),
                _long_enough(_jaro_winkler("first_name", 0.7, "Jaro-Winkler >= 0.7"), "first_name"),
            ],
            other=_FIRST_NAMES_DIFFER,
        ),
        "last_name": _comparison(
            "last_name",
            "Last name",
            null={
                # Swapped names are weighed once, by the first-name comparison; here they count as
                # no evidence, like a missing value (two levels would count the same fact twice).
                # So is the surname of a household: two people at one address share it whoever they
                # are, so when the addresses agree and the first names do not, an agreeing surname
                # restates the address (for twins, with their date of birth, it would tip the pair).
                "sql_condition": f'"last_name_l" IS NULL OR "last_name_r" IS NULL OR ({_NAMES_SWAPPED}) '
                f"OR ({_HOUSEHOLD})",
                "label_for_charts": "last_name missing on either side, swapped with the first name, "
                "or a household's (same address, other first names)",
                "is_null_level": True,
            },
            levels=[
                _exact("last_name"),
                _typo("last_name"),
                _jaro_winkler("last_name", 0.88, "Jaro-Winkler >= 0.88"),
                _jaro_winkler("last_name", 0.7, "Jaro-Winkler >= 0.7"),
            ],
            other=_LAST_NAMES_DIFFER,
        ),
        "dob": _comparison(
            "dob",
            "Date of birth",
            null={
                # Within a household only the first name tells two people apart: twins share the
                # date of birth with the surname and the address, so, as for the surname, it is no
                # further evidence there.
                "sql_condition": f'"dob_l" IS NULL OR "dob_r" IS NULL OR ({_HOUSEHOLD})',
                "label_for_charts": "dob missing on either side, or a household's (same address, other first names)",
                "is_null_level": True,
            },
            levels=[
                _exact("dob"),
                _one_different("dob", "One character different"),
                _level(dob_swapped, "Day and month swapped"),
                _level('substr("dob_l", 1, 7) = substr("dob_r", 1, 7)', "Same year and month"),
                _level('substr("dob_l", 1, 4) = substr("dob_r", 1, 4)', "Same year"),
            ],
        ),
        "email": _comparison(
            "email",
            "E-mail",
            null={
                # Namesakes write their names into their addresses alike: p.okafor@example.com and
                # p.okafor@example.net. Such local parts at other domains are the names again, which
                # the name comparisons weigh; counting them here too would count one fact twice. (The
                # same person's two addresses look alike too, so it is no evidence either way.)
                "sql_condition": f'"email_l" IS NULL OR "email_r" IS NULL OR ({_EMAIL_RESTATES_NAMES})',
                "label_for_charts": "email missing on either side, or only the names at another domain",
                "is_null_level": True,
            },
            levels=[
                _exact("email"),
                _exact("email_local", "Same local part (before @)"),
                # A mailbox tells namesakes apart by a number (p.okafor, p.okafor42): local parts
                # alike but for their digits belong to different people, so fall to "All other".
                _level(
                    f'jaro_winkler_similarity("email_l", "email_r") >= 0.88 AND {_SAME_DIGITS}',
                    "Jaro-Winkler >= 0.88, same digits",
                ),
                _level(
                    f'jaro_winkler_similarity("email_local_l", "email_local_r") >= 0.88 AND {_SAME_DIGITS}',
                    "Local part Jaro-Winkler >= 0.88, same digits",
                ),
            ],
        ),
        "phone": _comparison(
            "phone", "Phone", [_exact("phone"), _one_different("phone", "One digit different")]
        ),
        "address": _comparison(
            "address",
            "Street address",
            [
                _exact("address"),
                _jaro_winkler("address", 0.9, "Jaro-Winkler >= 0.9"),
                _jaro_winkler("address", 0.75, "Jaro-Winkler >= 0.75"),
            ],
        ),
        # Address, postcode and city describe one place: two records at the same address share its
        # postcode and city, whoever they are (a household does). Weighing all three as independent
        # counts the place three times (some 23 bits, more than a date of birth and a surname
        # together). So the postcode is no further evidence when the addresses agree exactly and so
        # do the postcodes (it still counts beside a mistyped address: "78 Oak Ave" and "78 Oak
        # Avenue" in one postcode are one place, in two they are not), and the city none when the
        # postcodes agree.
        "postcode": _comparison(
            "postcode",
            "Postcode",
            null={
                "sql_condition": '"postcode_l" IS NULL OR "postcode_r" IS NULL OR ("postcode_l" = "postcode_r" '
                'AND "address_l" = "address_r")',
                "label_for_charts": "postcode missing on either side, or the same with the same address",
                "is_null_level": True,
            },
            levels=[
                _exact("postcode"),
                _typo("postcode"),
                _level(postcode_area, "Same area (all but the last 3)"),
            ],
        ),
        "city": _comparison(
            "city",
            "City",
            null={
                "sql_condition": '"city_l" IS NULL OR "city_r" IS NULL OR "postcode_l" = "postcode_r"',
                "label_for_charts": "city missing on either side, or the postcode the same",
                "is_null_level": True,
            },
            levels=[_exact("city"), _jaro_winkler("city", 0.88, "Jaro-Winkler >= 0.88")],
        ),
    }


# Blocking rules for prediction. Each keeps its blocks small on a million records (a shared e-mail or
# phone, or two fields together, one of them narrow like a date of birth); together they reach a
# duplicate through any one or two fields that survived the typos. A rule is SQL over l. and r.
_PREDICTION_BLOCKS: tuple[str, ...] = (
    'l."email" = r."email"',
    'l."phone" = r."phone"',
    'l."first_name_canon" = r."first_name_canon" AND l."dob" = r."dob"',
    'l."last_name" = r."last_name" AND l."dob" = r."dob"',
    'l."first_name_canon" = r."first_name_canon" AND l."last_name" = r."last_name"',
    'l."first_name" = r."last_name" AND l."last_name" = r."first_name"',
    'l."dob" = r."dob" AND left(l."first_name", 1) = left(r."first_name", 1)',
    'l."dob" = r."dob" AND left(l."last_name", 1) = left(r."last_name", 1)',
    'left(l."dob", 4) = left(r."dob", 4) AND l."last_name" = r."last_name"',
    'left(l."dob", 7) = left(r."dob", 7) AND l."first_name" = r."first_name"',
    'left(l."dob", 4) = left(r."dob", 4) AND left(l."first_name", 2) = left(r."first_name", 2) '
    'AND left(l."last_name", 2) = left(r."last_name", 2)',
    'l."last_name" = r."last_name" AND l."postcode" = r."postcode"',
    # Both names misspelt and no date of birth: the postcode and an initial still agree.
    'l."postcode" = r."postcode" AND left(l."first_name", 1) = left(r."first_name", 1)',
    'l."postcode" = r."postcode" AND left(l."last_name", 1) = left(r."last_name", 1)',
    'l."dob" = r."dob" AND l."postcode" = r."postcode"',
    'l."dob" = r."dob" AND l."city" = r."city"',
    # A local part alone ("robert.allen") is personal enough once it has a few characters; "info" is not.
    'l."email_local" = r."email_local" AND length(l."email_local") >= 6',
)
# Deterministic rules for the prior: pairs these find are (nearly) all true duplicates.
_DETERMINISTIC_BLOCKS: tuple[str, ...] = (
    'l."email" = r."email"',
    'l."phone" = r."phone"',
    'l."first_name" = r."first_name" AND l."last_name" = r."last_name" AND l."dob" = r."dob"',
)
# EM sessions, in order of preference. A session trains m for the comparisons its rule does not touch,
# and sessions run until every comparison is trained. Names come last: people who share a name share
# e-mail local parts too ("john.smith@..."), and EM on a name block learns those pairs as duplicates.
_EM_BLOCKS: tuple[str, ...] = (
    'l."dob" = r."dob"',
    'l."email" = r."email"',
    'l."phone" = r."phone"',
    'l."first_name" = r."first_name" AND l."last_name" = r."last_name"',
    'l."postcode" = r."postcode"',
)


# Columns the session derives from another (first_name_canon from first_name, email_local from email).
_DERIVED = re.compile(r"_(canon|local|letters|digits|domain)$")


def _columns(sql: str, pattern: str) -> set[str]:
    return {re.sub(_DERIVED, "", name) for name in re.findall(pattern, sql)}


def _em_plan(rules: Iterable[str], comparisons: list[dict[str, Any]]) -> list[str]:
    """The EM rules to run, in order, so that each comparison is trained by one that does not touch it."""
    used = {
        comparison["output_column_name"]: set().union(
            *(_columns(level["sql_condition"], r'"(\w+)_[lr]"') for level in comparison["comparison_levels"])
        )
        for comparison in comparisons
    }
    untrained, plan = set(used), []
    for rule in rules:
        touched = _columns(rule, r'l\."(\w+)"')
        trains = {name for name in untrained if not used[name] & touched}
        if trains:
            plan.append(rule)
            untrained -= trains
    return plan


def _blocks(rules: Iterable[str], filled: set[str]) -> list[str]:
    """The rules whose every column is filled in these records (a rule on an empty column finds nothing)."""

    def usable(rule: str) -> bool:
        return _columns(rule, r'l\."(\w+)"') <= filled

    return list(dict.fromkeys(rule for rule in rules if usable(rule)))


# -- the private DuckDB --------------------------------------------------------------------------

_NORMALISE_SQL = """
CREATE TABLE contacts AS
WITH cleaned AS (
    SELECT
        CAST(record_id AS VARCHAR) AS record_id,
        CAST(source AS VARCHAR) AS source,
        nullif(regexp_replace(lower(strip_accents(CAST(first_name AS VARCHAR))), '[^a-z]', '', 'g'), '')
            AS first_name,
        nullif(regexp_replace(lower(strip_accents(CAST(last_name AS VARCHAR))), '[^a-z]', '', 'g'), '')
            AS last_name,
        CASE WHEN CAST(email AS VARCHAR) LIKE '%_@_%' THEN lower(trim(CAST(email AS VARCHAR))) END AS email,
        nullif(regexp_replace(CAST(phone AS VARCHAR), '[^0-9+]', '', 'g'), '') AS phone,
        strftime(try_cast(trim(CAST(dob AS VARCHAR)) AS DATE), '%Y-%m-%d') AS dob,
        nullif(trim(regexp_replace(
            regexp_replace(
                regexp_replace(lower(strip_accents(CAST(address AS VARCHAR))), '[^a-z0-9]+', ' ', 'g'),
                '\\b(street)\\b', 'st', 'g'),
            '\\b(road)\\b', 'rd', 'g')), '') AS address,
        nullif(upper(regexp_replace(CAST(postcode AS VARCHAR), '[^A-Za-z0-9]', '', 'g')), '') AS postcode,
        nullif(trim(regexp_replace(lower(strip_accents(CAST(city AS VARCHAR))), '[^a-z]+', ' ', 'g')), '')
            AS city
    FROM raw_records
)
SELECT
    c.record_id, c.source, c.first_name,
    coalesce(n.canonical, c.first_name) AS first_name_canon,
    c.last_name, c.email,
    nullif(regexp_replace(split_part(c.email, '@', 1), '\\+.*$', ''), '') AS email_local,
    nullif(regexp_replace(regexp_replace(split_part(c.email, '@', 1), '\\+.*$', ''), '[^a-z]', '', 'g'), '')
        AS email_letters,
    nullif(regexp_replace(regexp_replace(split_part(c.email, '@', 1), '\\+.*$', ''), '[^0-9]', '', 'g'), '')
        AS email_digits,
    nullif(split_part(c.email, '@', 2), '') AS email_domain,
    c.phone, c.dob, c.address, c.postcode, c.city
FROM cleaned AS c LEFT JOIN nicknames AS n ON n.nickname = c.first_name
"""


def _conform(records: pa.Table) -> pa.Table:
    """The records with every column of RECORD_COLUMNS (missing ones as nulls), as text."""
    if not isinstance(records, pa.Table):
        raise MatchError(f"records must be a pyarrow.Table, not {type(records).__name__}")
    if "record_id" not in records.column_names:
        raise MatchError(
            f"records have no record_id column (columns: {', '.join(records.column_names) or 'none'})"
        )
    columns = []
    for name in RECORD_COLUMNS:
        if name in records.column_names:
            column = records.column(name)
            if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
                column = column.cast(pa.string())
        else:
            column = pa.nulls(records.num_rows, pa.string())
        columns.append(column)
    return pa.table(columns, names=list(RECORD_COLUMNS))


@contextmanager
def _session(records: pa.Table, threads: int) -> Iterator[DuckDBAPI]:
    """A private in-memory DuckDB holding the normalised records as ``contacts``, closed on exit."""
    from splink import DuckDBAPI

    if threads < 1:
        raise MatchError(f"threads must be at least 1, got {threads}")
    db_api = DuckDBAPI(":memory:")
    con = db_api.duckdb_con
    try:
        con.execute(f"SET threads = {int(threads)}")
        con.execute("SET autoinstall_known_extensions = false")
        con.register("raw_records", _conform(records))
        con.register("nicknames", _nickname_table())
        problems = con.execute(
            "SELECT count(*) FILTER (WHERE record_id IS NULL), count(record_id) - count(DISTINCT record_id) "
            "FROM raw_records"
        ).fetchall()[0]
        if problems[0]:
            raise MatchError(f"{problems[0]} record(s) have no record_id: every record needs a unique one")
        if problems[1]:
            duplicate = con.execute(
                "SELECT record_id FROM raw_records GROUP BY ALL HAVING count(*) > 1 ORDER BY 1 LIMIT 1"
            ).fetchall()[0][0]
            raise MatchError(
                f"record_id must be unique: {problems[1]} repeat(s), the first being {duplicate!r}"
            )
        con.execute(_NORMALISE_SQL)
        con.unregister("raw_records")
        yield db_api
    finally:
        con.close()


def _filled_columns(db_api: DuckDBAPI, n: int) -> set[str]:
    names = [name for name in _comparisons()]
    counts = db_api.duckdb_con.execute(
        "SELECT " + ", ".join(f'count("{name}")' for name in names) + " FROM contacts"
    ).fetchall()[0]
    return {name for name, count in zip(names, counts, strict=True) if count >= max(2, _MIN_FILLED_SHARE * n)}


# EM's smallest m. A level that only non-matches occupy in a block (a surname merely similar, among
# people born the same day) loses most of its m at each iteration, and the loss compounds: within
# 25 iterations m underflows to 0.0, which Splink refuses (and a weight of minus infinity would veto
# any pair). One in a million duplicates is "never" for any extract this engine sees.
_M_FLOOR = 1e-6
_EM_PATCH = threading.Lock()


@contextmanager
def _floored_m() -> Iterator[None]:
    """EM sessions inside keep every m at or above ``_M_FLOOR``.

    Splink has no option for it: its maximisation step is wrapped for the duration (one session at a
    time in this process), and every m it computes is raised to the floor before it is stored.
    """
    from splink.internals import expectation_maximisation as em

    with _EM_PATCH:
        compute = em.compute_proportions_for_new_parameters

        def floored(df_params: Any) -> list[dict[str, Any]]:
            records: list[dict[str, Any]] = compute(df_params)
            for record in records:
                m = record.get("m_probability")
                if record["output_column_name"] != "_probability_two_random_records_match" and (
                    isinstance(m, float) and not m >= _M_FLOOR
                ):
                    record["m_probability"] = _M_FLOOR
            return records

        em.compute_proportions_for_new_parameters = floored
        try:
            yield
        finally:
            em.compute_proportions_for_new_parameters = compute


def _linker(db_api: DuckDBAPI, settings: dict[str, Any]) -> Any:
    from splink import Linker

    # Splink logs a warning for every level EM did not see in a block ("unable to train m value"):
    # expected with blocks that fix some fields, and a hundred lines of noise on a user's terminal.
    logging.getLogger("splink").setLevel(logging.ERROR)

    table = db_api.register("contacts", table_name="contacts_input")
    return Linker(table, settings, log_level=None)


# -- train, predict, explain ---------------------------------------------------------------------


def train(
    records: pa.Table,
    *,
    seed: int = 42,
    max_pairs: float = 5e6,
    em_max_pairs: float = 2e6,
    threads: int = 2,
) -> dict[str, Any]:
    """Learns a matching model from unlabelled ``records`` and returns it as Splink's settings dict.

    u comes from ``max_pairs`` random pairs (sampled with ``seed``), the prior from exact e-mail or
    phone matches, m from EM over at most ``em_max_pairs`` blocked pairs per session. The same records
    and seed give the same model.
    """
    from splink.internals.exceptions import EMTrainingException

    records = _conform(records)
    if records.num_rows < MIN_TRAINING_RECORDS:
        raise MatchError(
            f"training needs at least {MIN_TRAINING_RECORDS} records, got {records.num_rows}: "
            "train on a larger extract (or reuse a model trained earlier with predict())"
        )
    with _session(records, threads) as db_api:
        filled = _filled_columns(db_api, records.num_rows)
        comparisons = [comparison for name, comparison in _comparisons().items() if name in filled]
        if len(comparisons) < 2:
            raise MatchError(
                "training needs at least two filled fields among "
                f"{', '.join(_comparisons())} (each in {_MIN_FILLED_SHARE:.0%} of records); "
                f"these records fill only {', '.join(sorted(filled)) or 'none'}"
            )
        prediction_blocks = _blocks(_PREDICTION_BLOCKS, filled)
        if not prediction_blocks:
            raise MatchError(
                "no blocking rule can be used: the records need an e-mail, a phone, or two of "
                "first name, last name, date of birth, postcode and city"
            )
        settings = {
            "link_type": "dedupe_only",
            "sql_dialect": "duckdb",
            "unique_id_column_name": "record_id",
            "comparisons": comparisons,
            "blocking_rules_to_generate_predictions": [
                {"blocking_rule": rule, "sql_dialect": "duckdb"} for rule in prediction_blocks
            ],
            "retain_matching_columns": False,
            "retain_intermediate_calculation_columns": False,
            "linker_uid": _MODEL_UID,
        }
        linker = _linker(db_api, settings)
        deterministic: list[Any] = _blocks(_DETERMINISTIC_BLOCKS, filled)
        if deterministic:
            linker.training.estimate_probability_two_random_records_match(
                deterministic, recall=_DETERMINISTIC_RECALL
            )
        prior = linker._settings_obj._probability_two_random_records_match
        if not deterministic or prior <= 0:
            raise MatchError(
                "no two records share an e-mail, a phone, or a name and date of birth, so there is "
                "nothing to learn what a duplicate looks like from; train on records that hold some"
            )
        linker.training.estimate_u_using_random_sampling(max_pairs=max_pairs, seed=seed)
        sessions = 0
        for block in _em_plan(_blocks(_EM_BLOCKS, filled), comparisons):
            try:
                with _floored_m():
                    linker.training.estimate_parameters_using_expectation_maximisation(
                        block, max_pairs=em_max_pairs
                    )
            except EMTrainingException:  # the rule found no pairs in these records: try the next
                continue
            sessions += 1
        if sessions == 0:
            raise MatchError(
                "EM found no pairs to learn from: no two records share a date of birth, an e-mail, "
                "a phone, a full name or a postcode"
            )
        model: dict[str, Any] = linker.misc.save_model_to_json()
    return _rounded(model)


def _rounded(model: dict[str, Any]) -> dict[str, Any]:
    """The model with its probabilities to 10 significant digits.

    EM sums in parallel, so the last bit of an m probability can differ between two runs on the same
    records; ten digits are far below what moves a match weight and make the same seed give the same model.
    """

    def digits(value: float) -> float:
        return float(f"{value:.10g}")

    model["probability_two_random_records_match"] = digits(model["probability_two_random_records_match"])
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            for key in ("m_probability", "u_probability"):
                if isinstance(level.get(key), float):
                    level[key] = digits(level[key])
    return model


def _checked_model(model: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(model, Mapping) or "comparisons" not in model:
        raise MatchError("the model is not a Touchpoints matching model (no 'comparisons'): train one first")
    if model.get("unique_id_column_name") != "record_id":
        raise MatchError("the model was not trained by touchpoints.identity.matching.train()")
    return copy.deepcopy(dict(model))


def predict(
    records: pa.Table,
    model: Mapping[str, Any],
    *,
    threshold: float = 0.5,
    threads: int = 2,
) -> pa.Table:
    """Pairs of ``records`` the ``model`` scores at or above ``threshold`` (a match probability).

    Columns: ``record_id_l, record_id_r, match_probability, match_weight``, with ``record_id_l <
    record_id_r``, sorted by both ids.
    """
    if not 0 <= threshold <= 1:
        raise MatchError(f"threshold is a match probability between 0 and 1, got {threshold}")
    settings = _checked_model(model)
    settings["retain_matching_columns"] = False
    settings["retain_intermediate_calculation_columns"] = False
    records = _conform(records)
    with _session(records, threads) as db_api:
        linker = _linker(db_api, settings)
        scored = linker.inference.predict(threshold_match_probability=threshold, warning_mode="never")
        table: pa.Table = db_api.duckdb_con.sql(
            "SELECT record_id_l, record_id_r, match_probability, match_weight "
            f"FROM {scored.physical_name} ORDER BY record_id_l, record_id_r"
        ).to_arrow_table()
    return table


def count_comparisons(
    records: pa.Table, model: Mapping[str, Any], *, threads: int = 2, sample: float = 1.0
) -> list[dict[str, Any]]:
    """How many pairs each of the model's blocking rules adds for ``records``: what ``predict`` scores.

    One dict per rule: ``blocking_rule``, ``marginal`` (pairs no earlier rule found) and
    ``cumulative``. ``sample`` below 1 estimates from that share of records on each side.
    """
    from splink.blocking_analysis import count_comparisons_from_blocking_rules

    settings = _checked_model(model)
    with _session(records, threads) as db_api:
        counted = count_comparisons_from_blocking_rules(
            db_api.register("contacts", table_name="contacts_input"),
            blocking_rules=[
                rule["blocking_rule"] for rule in settings["blocking_rules_to_generate_predictions"]
            ],
            link_type="dedupe_only",
            unique_id_column_name="record_id",
            record_sample_proportion=sample,
        )
    return [
        {
            "blocking_rule": row["blocking_rule"],
            "marginal": int(row["marginal_comparison_count"]),
            "cumulative": int(row["cumulative_comparison_count"]),
        }
        for row in counted
    ]


def _levels_by_vector_value(comparison: Mapping[str, Any]) -> dict[int, Mapping[str, Any]]:
    # Splink's numbering: the null level is -1, the others count down to 0 (the last, "All other").
    out: dict[int, Mapping[str, Any]] = {}
    counter = sum(1 for level in comparison["comparison_levels"] if not level.get("is_null_level")) - 1
    for level in comparison["comparison_levels"]:
        if level.get("is_null_level"):
            out[-1] = level
        else:
            out[counter] = level
            counter -= 1
    return out


def explain(
    records: pa.Table,
    model: Mapping[str, Any],
    record_id_l: str,
    record_id_r: str,
) -> dict[str, Any]:
    """Why ``model`` scores two of ``records`` as it does: per comparison the level, its weight, the values.

    Weights are log2 Bayes factors: positive for evidence of the same person, negative against. The
    prior weight plus the comparison weights make the total ``match_weight``.
    """
    settings = _checked_model(model)
    left, right = sorted((str(record_id_l), str(record_id_r)))
    if left == right:
        raise MatchError(f"explain needs two different records, got {left!r} twice")
    records = _conform(records)
    ids = records.column("record_id")
    missing = [rid for rid in (left, right) if not pc.any(pc.equal(ids, rid)).as_py()]
    if missing:
        raise MatchError(f"record_id {missing[0]!r} is not among the {records.num_rows} records given")
    pair = records.filter(pc.is_in(ids, value_set=pa.array([left, right])))
    settings["retain_matching_columns"] = True
    settings["retain_intermediate_calculation_columns"] = True
    settings["blocking_rules_to_generate_predictions"] = [{"blocking_rule": "1=1", "sql_dialect": "duckdb"}]
    with _session(pair, 1) as db_api:
        linker = _linker(db_api, settings)
        scored = linker.inference.predict(warning_mode="never")
        row = db_api.duckdb_con.sql(f"SELECT * FROM {scored.physical_name}").to_arrow_table().to_pylist()[0]
    prior = float(settings["probability_two_random_records_match"])
    # Splink keeps a comparison's column but not its description through a saved model.
    descriptions = {name: known["comparison_description"] for name, known in _comparisons().items()}
    explained = []
    for comparison in settings["comparisons"]:
        name = comparison["output_column_name"]
        level = _levels_by_vector_value(comparison)[int(row[f"gamma_{name}"])]
        explained.append(
            {
                "comparison": name,
                "description": descriptions.get(name, name),
                "level": level.get("label_for_charts", ""),
                "match_weight": round(float(row[f"mw_{name}"]), 4),
                "value_l": row.get(f"{name}_l"),
                "value_r": row.get(f"{name}_r"),
            }
        )
    return {
        "record_id_l": left,
        "record_id_r": right,
        "prior_match_weight": round(math.log2(prior / (1 - prior)), 4),
        "comparisons": explained,
        "match_weight": round(float(row["match_weight"]), 4),
        "match_probability": float(row["match_probability"]),
    }


def explanation_text(explanation: Mapping[str, Any]) -> str:
    """``explain()``'s answer as lines a person reads: one per comparison, then the total."""
    lines = [f"{explanation['record_id_l']} vs {explanation['record_id_r']}"]
    rows = [("prior (before looking at the records)", "", "", explanation["prior_match_weight"])]
    for item in explanation["comparisons"]:
        values = f"{item['value_l'] if item['value_l'] is not None else '∅'} | " + (
            f"{item['value_r'] if item['value_r'] is not None else '∅'}"
        )
        rows.append((item["description"], values, item["level"], item["match_weight"]))
    width = [max(len(str(row[i])) for row in rows) for i in range(3)]
    for what, values, level, weight in rows:
        lines.append(f"  {what:<{width[0]}}  {values:<{width[1]}}  {level:<{width[2]}}  {weight:+7.2f}")
    lines.append(
        f"  total match weight {explanation['match_weight']:+.2f}, "
        f"match probability {explanation['match_probability']:.4f}"
    )
    return "\n".join(lines)


# -- clusters and their accuracy -----------------------------------------------------------------


def clusters_from_pairs(
    pairs: pa.Table,
    *,
    threshold: float = 0.5,
    record_ids: Iterable[str] = (),
) -> dict[str, str]:
    """Connected components of the pairs at or above ``threshold``: record_id -> cluster id.

    A cluster's id is its smallest record_id. ``record_ids`` adds records without pairs as singletons.
    """
    parent: dict[str, str] = {str(rid): str(rid) for rid in record_ids}

    def root(node: str) -> str:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    kept = pairs.filter(pc.greater_equal(pairs.column("match_probability"), threshold))
    for left, right in zip(
        kept.column("record_id_l").to_pylist(), kept.column("record_id_r").to_pylist(), strict=True
    ):
        parent.setdefault(left, left)
        parent.setdefault(right, right)
        a, b = root(left), root(right)
        if a != b:
            parent[max(a, b)] = min(a, b)
    return {node: root(node) for node in parent}


@dataclass(frozen=True)
class PairwiseScores:
    """Pairwise accuracy of a clustering: every pair of records put together is one prediction."""

    precision: float
    recall: float
    f1: float
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int


def _pairs_in(sizes: Iterable[int]) -> int:
    return sum(size * (size - 1) // 2 for size in sizes)


def pairwise_scores(
    predicted_clusters: Mapping[str, str], true_clusters: Mapping[str, str]
) -> PairwiseScores:
    """Precision, recall and F1 over pairs of records, of ``predicted_clusters`` against the truth.

    Both map record_id -> cluster id. Records of the truth that the prediction lacks are singletons.
    """
    predicted = {rid: predicted_clusters.get(rid, f"\0{rid}") for rid in true_clusters}
    unknown = set(predicted_clusters) - set(true_clusters)
    if unknown:
        raise MatchError(f"{len(unknown)} predicted record(s) are not in the truth, e.g. {min(unknown)!r}")
    predicted_pairs = _pairs_in(Counter(predicted.values()).values())
    true_pairs = _pairs_in(Counter(true_clusters.values()).values())
    correct = _pairs_in(Counter((predicted[rid], true_clusters[rid]) for rid in true_clusters).values())
    precision = correct / predicted_pairs if predicted_pairs else 1.0
    recall = correct / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PairwiseScores(precision, recall, f1, true_pairs, predicted_pairs, correct)
