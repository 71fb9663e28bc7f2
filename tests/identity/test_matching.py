"""Probabilistic matching: accuracy on Splink's labelled fake_1000, explanations, determinism, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from touchpoints.identity.matching import (
    MIN_TRAINING_RECORDS,
    MatchError,
    clusters_from_pairs,
    explain,
    explanation_text,
    pairwise_scores,
    predict,
    train,
)

FAKE_1000 = Path(__file__).parent / "data" / "fake_1000.csv"


def load_fake_1000() -> tuple[pa.Table, dict[str, str]]:
    """fake_1000 as contact records, and the true cluster of each record."""
    names = ["unique_id", "first_name", "surname", "dob", "city", "email", "cluster"]
    table = pacsv.read_csv(
        FAKE_1000,
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=True
        ),
    )
    records = pa.table(
        {
            "record_id": table["unique_id"],
            "source": pa.array(["fake_1000"] * table.num_rows),
            "first_name": table["first_name"],
            "last_name": table["surname"],
            "email": table["email"],
            "dob": table["dob"],
            "city": table["city"],
        }
    )
    truth = dict(zip(table["unique_id"].to_pylist(), table["cluster"].to_pylist(), strict=True))
    return records, truth


@pytest.fixture(scope="module")
def fake_1000() -> tuple[pa.Table, dict[str, str]]:
    return load_fake_1000()


@pytest.fixture(scope="module")
def model(fake_1000: tuple[pa.Table, dict[str, str]]) -> dict[str, Any]:
    return train(fake_1000[0], seed=42)


@pytest.fixture(scope="module")
def pairs(fake_1000: tuple[pa.Table, dict[str, str]], model: dict[str, Any]) -> pa.Table:
    return predict(fake_1000[0], model, threshold=0.5)


def test_fake_1000_pairwise_f1_is_at_least_0_90(
    fake_1000: tuple[pa.Table, dict[str, str]], pairs: pa.Table
) -> None:
    records, truth = fake_1000
    clusters = clusters_from_pairs(pairs, threshold=0.5, record_ids=records["record_id"].to_pylist())
    scores = pairwise_scores(clusters, truth)
    print(f"fake_1000 at 0.5: {scores}")
    assert scores.true_pairs == 2031
    assert scores.f1 >= 0.90
    assert scores.precision >= 0.95


def test_predict_returns_ordered_pairs_at_or_above_the_threshold(pairs: pa.Table) -> None:
    assert pairs.column_names == ["record_id_l", "record_id_r", "match_probability", "match_weight"]
    rows = pairs.to_pylist()
    assert rows, "fake_1000 has duplicates to find"
    assert all(row["record_id_l"] < row["record_id_r"] for row in rows)
    assert all(row["match_probability"] >= 0.5 for row in rows)
    keys = [(row["record_id_l"], row["record_id_r"]) for row in rows]
    assert keys == sorted(keys)


def test_a_higher_threshold_keeps_fewer_pairs(
    fake_1000: tuple[pa.Table, dict[str, str]], model: dict[str, Any], pairs: pa.Table
) -> None:
    strict = predict(fake_1000[0], model, threshold=0.99)
    assert 0 < strict.num_rows < pairs.num_rows


def test_explain_shows_the_fuzzy_level_of_a_typo(
    fake_1000: tuple[pa.Table, dict[str, str]], model: dict[str, Any]
) -> None:
    # Records 0 and 3: Robert Alan / Robert Alen, same date of birth.
    answer = explain(fake_1000[0], model, "3", "0")
    assert (answer["record_id_l"], answer["record_id_r"]) == ("0", "3")
    by_name = {item["comparison"]: item for item in answer["comparisons"]}
    last = by_name["last_name"]
    assert (last["value_l"], last["value_r"]) == ("alan", "alen")
    assert last["level"] == "One typo (Damerau-Levenshtein <= 1)"
    assert last["match_weight"] > 0
    assert by_name["first_name"]["level"] == "Exact match"
    assert by_name["dob"]["level"] == "Exact match"
    assert by_name["city"]["value_l"] is None and by_name["city"]["match_weight"] == 0
    total = answer["prior_match_weight"] + sum(item["match_weight"] for item in answer["comparisons"])
    assert total == pytest.approx(answer["match_weight"], abs=1e-3)
    assert 0.5 < answer["match_probability"] <= 1
    text = explanation_text(answer)
    assert "One typo" in text and "alan | alen" in text and "match probability" in text


def test_explain_of_different_people_weighs_against(
    fake_1000: tuple[pa.Table, dict[str, str]], model: dict[str, Any]
) -> None:
    answer = explain(fake_1000[0], model, "0", "4")  # Robert Alan and Grace, nothing in common
    assert answer["match_weight"] < 0
    assert answer["match_probability"] < 0.01


def test_explain_names_a_missing_record(
    fake_1000: tuple[pa.Table, dict[str, str]], model: dict[str, Any]
) -> None:
    with pytest.raises(MatchError, match="'nope' is not among the 1000 records"):
        explain(fake_1000[0], model, "0", "nope")


def test_same_seed_same_model_and_pairs(
    fake_1000: tuple[pa.Table, dict[str, str]], model: dict[str, Any], pairs: pa.Table
) -> None:
    again = train(fake_1000[0], seed=42)
    assert json.dumps(again, sort_keys=True) == json.dumps(model, sort_keys=True)
    assert predict(fake_1000[0], again, threshold=0.5).equals(pairs)


def test_the_model_carries_no_record_values(
    fake_1000: tuple[pa.Table, dict[str, str]], model: dict[str, Any]
) -> None:
    saved = json.dumps(model).lower()
    records = fake_1000[0]
    values = {
        value.lower()
        for column in ("email", "dob", "last_name", "city")
        for value in records[column].to_pylist()
        if value and len(value) >= 6
    }
    assert values
    assert [value for value in values if value in saved] == []
    assert "tf_adjustment_column" not in saved or '"tf_adjustment_column": null' in saved
    assert json.loads(json.dumps(model)) == model  # JSON-able as it is


def test_training_on_too_few_records_says_how_many_are_needed(
    fake_1000: tuple[pa.Table, dict[str, str]],
) -> None:
    few = fake_1000[0].slice(0, 40)
    with pytest.raises(MatchError, match=f"at least {MIN_TRAINING_RECORDS} records, got 40"):
        train(few)


def test_record_ids_must_be_unique(fake_1000: tuple[pa.Table, dict[str, str]], model: dict[str, Any]) -> None:
    records = fake_1000[0]
    doubled = pa.concat_tables([records.slice(0, 5), records.slice(0, 5)])
    with pytest.raises(MatchError, match="record_id must be unique: 5 repeat"):
        predict(doubled, model)


def test_a_foreign_model_is_refused(fake_1000: tuple[pa.Table, dict[str, str]]) -> None:
    with pytest.raises(MatchError, match="not a Touchpoints matching model"):
        predict(fake_1000[0], {"link_type": "dedupe_only"})


def test_clusters_are_connected_components_at_the_threshold() -> None:
    pairs = pa.table(
        {
            "record_id_l": ["a", "b", "d", "x"],
            "record_id_r": ["b", "c", "e", "y"],
            "match_probability": [0.9, 0.8, 0.2, 0.95],
            "match_weight": [3.0, 2.0, -2.0, 4.0],
        }
    )
    clusters = clusters_from_pairs(pairs, threshold=0.5, record_ids=["a", "b", "c", "d", "e", "z"])
    assert clusters == {"a": "a", "b": "a", "c": "a", "d": "d", "e": "e", "z": "z", "x": "x", "y": "x"}


def test_pairwise_scores_count_pairs() -> None:
    truth = {"a": "1", "b": "1", "c": "1", "d": "2", "e": "2", "f": "3"}
    # Predicted: {a, b}, {c, d}, e and f alone -> 2 predicted pairs, 1 correct (a-b); 4 true pairs.
    predicted = {"a": "a", "b": "a", "c": "c", "d": "c"}
    scores = pairwise_scores(predicted, truth)
    assert (scores.true_pairs, scores.predicted_pairs, scores.correct_pairs) == (4, 2, 1)
    assert scores.precision == 0.5 and scores.recall == 0.25
    assert scores.f1 == pytest.approx(2 * 0.5 * 0.25 / 0.75)
    assert pairwise_scores(truth, truth).f1 == 1.0


def test_a_local_part_made_of_the_names_is_no_second_evidence_of_them(model: dict[str, Any]) -> None:
    # Namesakes: the same name written into addresses at two domains, or told apart by a number.
    records = pa.table(
        {
            "record_id": ["a", "b", "c"],
            "first_name": ["Paul", "Paul", "Paul"],
            "last_name": ["Okafor", "Okafor", "Okafor"],
            "email": ["p.okafor@example.com", "p.okafor@example.net", "p.okafor42@example.com"],
        }
    )
    other_domain = {item["comparison"]: item for item in explain(records, model, "a", "b")["comparisons"]}
    assert other_domain["email"]["level"].endswith("only the names at another domain")
    assert other_domain["email"]["match_weight"] == 0
    other_number = {item["comparison"]: item for item in explain(records, model, "a", "c")["comparisons"]}
    assert other_number["email"]["level"] == "All other"
    assert other_number["email"]["match_weight"] < 0
