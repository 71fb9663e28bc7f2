"""How well identity resolution found the demo world's people: pairwise precision, recall and F1 of the
contact records (CRM and store sign-ups), against the ground truth's person of each record.

A pair of records is predicted a match when both belong to one customer (by any route: shared e-mail,
phone or loyalty card, a matched pair, a review), and truly one when both are one person. The planted
duplicates (typos, nicknames, swapped dates) are the positives; the hard negatives (namesakes, households,
twins) are what a careless matcher merges.
"""

from __future__ import annotations

from typing import Any

from touchpoints.store.backend import Backend

# The demo's contact files, by source (see demo/build.py IMPORTS).
RECORD_SOURCES = {"crm_record_id": "crm", "pos_record_id": "pos-signup"}


def record_truth(truth: dict[str, Any]) -> dict[str, str]:
    """Record node -> person, for every contact record the world wrote."""
    people: dict[str, str] = {}
    for person in truth["people"]:
        for field, source in RECORD_SOURCES.items():
            record = person["ids"].get(field)
            if record:
                people[f"record:{source}/{record}"] = person["person"]
    return people


def matching_quality(db: Backend, truth: dict[str, Any]) -> dict[str, Any]:
    """Pairwise scores of the store's record customers against the truth, with the wrong pairs named."""
    from touchpoints.identity.matching import pairwise_scores

    people = record_truth(truth)
    predicted = {
        node: customer
        for node, customer in db.execute("SELECT node, customer_id FROM identities WHERE kind = 'record'")
        if node in people
    }
    scores = pairwise_scores(predicted, {node: people[node] for node in predicted})
    by_customer: dict[str, list[str]] = {}
    for node, customer in predicted.items():
        by_customer.setdefault(customer, []).append(node)
    by_person: dict[str, list[str]] = {}
    for node in predicted:
        by_person.setdefault(people[node], []).append(node)
    wrong_merges = [sorted(nodes) for nodes in by_customer.values() if len({people[n] for n in nodes}) > 1]
    missed = [sorted(nodes) for nodes in by_person.values() if len({predicted[n] for n in nodes}) > 1]
    return {
        "records": len(predicted),
        "missing_records": sorted(set(people) - set(predicted)),
        "precision": round(scores.precision, 4),
        "recall": round(scores.recall, 4),
        "f1": round(scores.f1, 4),
        "true_pairs": scores.true_pairs,
        "predicted_pairs": scores.predicted_pairs,
        "correct_pairs": scores.correct_pairs,
        "wrong_merges": sorted(wrong_merges),
        "missed": sorted(missed),
    }
