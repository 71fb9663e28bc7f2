"""Probabilistic matching at scale: ``train`` and ``predict`` on seeded contact records with planted duplicates.

Generates contact records (names, streets and cities from small built-in lists; about 30 % of records
are duplicates of an earlier person, with typos, nicknames, swapped day and month, a new e-mail, a
move, missing fields), then times ``touchpoints.identity.matching.train`` and ``predict`` separately
on 2 threads, each size in a fresh process so its peak RSS is its own. Reports records, blocked
comparisons scored, comparisons per second, pairs found, and pairwise precision, recall and F1 of the
connected components against the planted truth. Goal: 1M records trained and matched in 7 minutes.

    .venv/bin/python bench/matching.py                      # 100k and 1M records
    .venv/bin/python bench/matching.py --records 200000     # one size (repeatable)
    .venv/bin/python bench/matching.py --quick              # 20k records
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import time
from typing import Any

import pyarrow as pa

from touchpoints.identity.matching import (
    clusters_from_pairs,
    count_comparisons,
    pairwise_scores,
    predict,
    train,
)

GOAL_SECONDS_1M = 7 * 60
DUPLICATE_SHARE = 0.3

FIRST_NAMES = """james robert john michael david william richard joseph thomas charles christopher daniel
matthew anthony mark donald steven paul andrew joshua kenneth kevin brian george timothy ronald edward
jason jeffrey ryan jacob gary nicholas eric jonathan stephen larry justin scott brandon benjamin samuel
gregory alexander frank patrick raymond jack dennis jerry tyler aaron jose adam nathan henry douglas
zachary peter kyle noah ethan jeremy walter christian keith roger terry austin sean gerald carl harold
dylan arthur lawrence jordan jesse bryan billy bruce gabriel joe logan alan juan albert willie elijah
wayne randy vincent mason roy ralph bobby russell bradley philip eugene mary patricia jennifer linda
elizabeth barbara susan jessica sarah karen lisa nancy betty sandra margaret ashley kimberly emily donna
michelle carol amanda melissa deborah stephanie dorothy rebecca sharon laura cynthia amy kathleen angela
shirley brenda emma anna pamela nicole samantha katherine christine helen debra rachel carolyn janet
maria catherine heather diane olivia julie joyce victoria ruth virginia lauren kelly christina joan
evelyn judith andrea hannah megan cheryl jacqueline martha madison teresa gloria sara janice ann kathryn
abigail sophia frances jean alice judy isabella julia grace amber denise danielle marilyn beverly
charlotte natalie theresa diana brittany doris kayla alexis lori marie""".split()  # noqa: SIM905 (a word list reads better as prose)
SURNAME_ROOTS = """smith jones taylor brown williams wilson johnson davies robinson wright thompson evans
walker white roberts green hall wood jackson clarke patel khan lewis james phillips mason mitchell rose
davis rodriguez cox alexander morgan moore martin price hughes turner king harris lee baker allen young
hill scott adams campbell anderson carter murphy parker collins stewart morris rogers reed cook bell
ward watson brooks gray hayes myers ford ellis graham fisher marshall owens harrison gibson kennedy
wells hunt palmer holmes mills lloyd grant knight hunter butler barnes fletcher cole dean riley
armstrong spencer lawson chapman webb booth porter bailey hart hawkins dixon fox burton ross rees
gardner payne newman pearson shaw russell hudson wallace nash foster chambers""".split()  # noqa: SIM905 (a word list reads better as prose)
SURNAME_SUFFIXES = ("", "", "", "son", "ton", "ley", "well", "wood", "field", "worth", "man", "by")
NICKNAMES = {
    "robert": "bob", "william": "bill", "richard": "dick", "james": "jim", "michael": "mike",
    "thomas": "tom", "elizabeth": "liz", "margaret": "maggie", "katherine": "kate", "jennifer": "jen",
    "christopher": "chris", "daniel": "dan", "matthew": "matt", "anthony": "tony", "joseph": "joe",
    "samuel": "sam", "benjamin": "ben", "alexander": "alex", "patricia": "pat", "rebecca": "becky",
    "susan": "sue", "victoria": "vicky", "nicholas": "nick", "stephen": "steve", "andrew": "andy",
    "jonathan": "jon", "timothy": "tim", "edward": "ed", "deborah": "debbie", "catherine": "cathy",
}  # fmt: skip
STREETS = """high station church park victoria green manor mill school queens kings new london
york chester grange windsor albert springfield richmond cedar oak elm ash willow beech chestnut
meadow orchard highfield west east north south mount stanley alexandra clarence nelson lime""".split()  # noqa: SIM905 (a word list reads better as prose)
STREET_KINDS = ("Road", "Street", "Lane", "Avenue", "Close", "Drive", "Way", "Gardens")
CITIES = """london birmingham manchester leeds glasgow sheffield bradford liverpool edinburgh bristol
cardiff leicester coventry hull nottingham newcastle stoke southampton derby portsmouth brighton
plymouth northampton reading luton wolverhampton bolton aberdeen norwich swindon swansea milton
southend middlesbrough sunderland warrington huddersfield oxford york cambridge exeter ipswich
gloucester blackpool preston dundee slough watford bath chelmsford""".split()  # noqa: SIM905 (a word list reads better as prose)
DOMAINS = (
    "gmail.com",
    "yahoo.co.uk",
    "hotmail.com",
    "outlook.com",
    "icloud.com",
    "btinternet.com",
    "aol.com",
)
SOURCES = ("crm", "pos", "loyalty", "support", "ecommerce")
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def typo(rng: random.Random, word: str) -> str:
    """One keyboard slip: a letter dropped, doubled, swapped with the next, or replaced."""
    if len(word) < 3:
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(4)
    if kind == 0:
        return word[:i] + word[i + 1 :]
    if kind == 1:
        return word[:i] + word[i] + word[i:]
    if kind == 2:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return word[:i] + rng.choice(LETTERS) + word[i + 1 :]


def person(rng: random.Random, emails: set[str]) -> dict[str, str | None]:
    """A new person; ``emails`` holds the addresses taken, as two people never share one."""
    first = rng.choice(FIRST_NAMES)
    last = rng.choice(SURNAME_ROOTS) + rng.choice(SURNAME_SUFFIXES)
    year, month, day = rng.randint(1940, 2006), rng.randint(1, 12), rng.randint(1, 28)
    city_index = rng.randrange(len(CITIES))
    area = CITIES[city_index][:2].upper()
    postcode = f"{area}{rng.randint(1, 29)} {rng.randint(1, 9)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}"
    email = None
    while email is None or email in emails:
        style = rng.randrange(3)
        local = (f"{first}.{last}", f"{first[0]}{last}{rng.randint(1, 99)}", f"{first}{rng.randint(1, 999)}")
        email = f"{local[style]}@{rng.choice(DOMAINS)}"
    emails.add(email)
    return {
        "first_name": first.title(),
        "last_name": last.title(),
        "email": email if rng.random() < 0.85 else None,
        "phone": f"+447{rng.randint(100_000_000, 999_999_999)}" if rng.random() < 0.7 else None,
        "dob": f"{year:04d}-{month:02d}-{day:02d}" if rng.random() < 0.9 else None,
        "address": f"{rng.randint(1, 250)} {rng.choice(STREETS).title()} {rng.choice(STREET_KINDS)}"
        if rng.random() < 0.8
        else None,
        "postcode": postcode,
        "city": CITIES[city_index].title(),
    }


def duplicate(rng: random.Random, original: dict[str, str | None], emails: set[str]) -> dict[str, str | None]:
    """The same person as another system recorded them."""
    record = dict(original)
    first, last = record["first_name"], record["last_name"]
    if first and rng.random() < 0.10 and first.lower() in NICKNAMES:
        record["first_name"] = NICKNAMES[first.lower()].title()
    elif first and rng.random() < 0.2:
        record["first_name"] = typo(rng, first)
    if last and rng.random() < 0.15:
        record["last_name"] = typo(rng, last)
    if rng.random() < 0.03:
        record["first_name"], record["last_name"] = record["last_name"], record["first_name"]
    dob = record["dob"]
    if dob and rng.random() < 0.08:
        i = rng.choice((2, 3, 5, 6, 8, 9))
        record["dob"] = dob[:i] + str(rng.randrange(10)) + dob[i + 1 :]
    elif dob and rng.random() < 0.04 and int(dob[8:]) <= 12:
        record["dob"] = f"{dob[:4]}-{dob[8:]}-{dob[5:7]}"
    if rng.random() < 0.25:  # a new address, or none given
        record["email"] = None
        if rng.random() < 0.5:
            while record["email"] is None or record["email"] in emails:
                record["email"] = f"{(first or 'x').lower()}{rng.randint(1, 9999)}@{rng.choice(DOMAINS)}"
            emails.add(record["email"])
    elif record["email"] and rng.random() < 0.05:
        record["email"] = typo(rng, record["email"])
    if rng.random() < 0.3:
        record["phone"] = None
    if rng.random() < 0.1:  # moved house
        moved = person(rng, emails)
        record.update(address=moved["address"], postcode=moved["postcode"], city=moved["city"])
    elif record["address"] and rng.random() < 0.2:
        record["address"] = record["address"].replace("Road", "Rd").replace("Street", "St") + rng.choice(
            ("", ",")
        )
    if record["postcode"] and rng.random() < 0.3:
        record["postcode"] = record["postcode"].replace(" ", "").lower()
    for field in ("first_name", "last_name", "dob", "city", "postcode", "address"):
        if rng.random() < 0.04:
            record[field] = None
    return record


def contacts(n: int, seed: int = 7) -> tuple[pa.Table, dict[str, str]]:
    """``n`` contact records (about 30 % duplicates of an earlier person) and each record's person."""
    rng = random.Random(seed)
    emails: set[str] = set()
    people: list[dict[str, str | None]] = []
    columns: dict[str, list[str | None]] = {
        name: [] for name in ("record_id", "source", "first_name", "last_name", "email", "phone", "dob", "address", "postcode", "city")
    }  # fmt: skip
    truth: dict[str, str] = {}
    for i in range(n):
        record_id = f"r{i:07d}"
        if people and rng.random() < DUPLICATE_SHARE:
            who = rng.randrange(len(people))
            record = duplicate(rng, people[who], emails)
        else:
            who = len(people)
            people.append(person(rng, emails))
            record = people[who]
        truth[record_id] = f"p{who}"
        columns["record_id"].append(record_id)
        columns["source"].append(rng.choice(SOURCES))
        for name in ("first_name", "last_name", "email", "phone", "dob", "address", "postcode", "city"):
            columns[name].append(record[name])
    return pa.table({name: pa.array(values, pa.string()) for name, values in columns.items()}), truth


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(n: int, threads: int, threshold: float) -> dict[str, Any]:
    started = time.perf_counter()
    records, truth = contacts(n)
    generated = time.perf_counter() - started
    rss_before = peak_rss_mb()

    started = time.perf_counter()
    model = train(records, threads=threads)
    train_seconds = time.perf_counter() - started
    rss_train = peak_rss_mb()

    started = time.perf_counter()
    pairs = predict(records, model, threshold=threshold, threads=threads)
    predict_seconds = time.perf_counter() - started
    rss_predict = peak_rss_mb()

    counts = count_comparisons(records, model, threads=threads)  # not timed: a second blocking pass
    comparisons = counts[-1]["cumulative"] if counts else 0
    clusters = clusters_from_pairs(pairs, threshold=threshold, record_ids=truth)
    scores = pairwise_scores(clusters, truth)
    return {
        "records": n,
        "people": len(set(truth.values())),
        "true_pairs": scores.true_pairs,
        "generate_s": round(generated, 1),
        "train_s": round(train_seconds, 1),
        "predict_s": round(predict_seconds, 1),
        "total_s": round(train_seconds + predict_seconds, 1),
        "comparisons": comparisons,
        "comparisons_per_s": round(comparisons / predict_seconds),
        "pairs_found": pairs.num_rows,
        "precision": round(scores.precision, 4),
        "recall": round(scores.recall, 4),
        "f1": round(scores.f1, 4),
        "peak_rss_mb_after_generate": round(rss_before),
        "peak_rss_mb_after_train": round(rss_train),
        "peak_rss_mb_after_predict": round(rss_predict),
        "comparisons_by_rule": [(row["blocking_rule"], row["marginal"]) for row in counts],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, action="append", help="records to match (repeatable)")
    parser.add_argument("--quick", action="store_true", help="one small run (20k records)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = args.records or ([20_000] if args.quick else [100_000, 1_000_000])

    if args.child:
        print(json.dumps(run(sizes[0], args.threads, args.threshold)))
        return

    print(
        f"# {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.2f}, threads {args.threads}, threshold {args.threshold}"
    )
    for n in sizes:
        child = [sys.executable, __file__, "--child", "--records", str(n), "--threads", str(args.threads)]
        out = subprocess.run(
            [*child, "--threshold", str(args.threshold)], check=True, capture_output=True, text=True
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        by_rule = result.pop("comparisons_by_rule")
        print(json.dumps(result))
        for rule, marginal in by_rule:
            print(f"    {marginal:>12,}  {rule}")
        if n >= 1_000_000:
            verdict = "met" if result["total_s"] <= GOAL_SECONDS_1M * n / 1_000_000 else "MISSED"
            print(f"# goal {GOAL_SECONDS_1M} s per 1M records: {verdict}")


if __name__ == "__main__":
    main()
