"""The analysis pages' data layer: position alignment, in-memory uploads, per-sentence and per-bucket
numbers, honest charts, exports; and Breakdown / Examples / Files through AppTest (no model needed).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import studio_helpers as helpers
from streamlit.testing.v1 import AppTest

from app import analysis, builtin, examples, report_export, reporting, upload
from enpar.alignment import align_to_gold
from enpar.schema import DataError, Relation, sentence_from_json

ROOT = Path(__file__).resolve().parents[1]
GOLD = [sentence_from_json(g) for g in helpers.GOLD]


def worse() -> list:
    """GOLD with the first sentence's relation missing and a spurious reversed one in the last."""
    extra = Relation(GOLD[2].entities[1], GOLD[2].entities[0], "USED-FOR")
    return [
        GOLD[0].with_predictions(GOLD[0].entities, []),
        GOLD[1],
        GOLD[2].with_predictions(GOLD[2].entities, [*GOLD[2].relations, extra]),
    ]


def spert_json(sentences: list) -> str:
    """The sentences as a SpERT-style JSON array (no ids: the readers derive them from the file name)."""
    records = []
    for s in sentences:
        ents = list(s.entities)
        records.append(
            {
                "tokens": list(s.tokens),
                "entities": [{"type": e.label, "start": e.start, "end": e.end} for e in ents],
                "relations": [
                    {"type": r.label, "head": ents.index(r.head), "tail": ents.index(r.tail)}
                    for r in s.relations
                ],
            }
        )
    return json.dumps(records)


# ---------------------------------------------------------------------------------------------------------
# Alignment and uploads (pure)


def test_predictions_line_up_by_id_else_by_position_else_a_clear_error() -> None:
    by_id, how = align_to_gold(GOLD, list(reversed(GOLD)))
    assert how == "id" and [s.id for s in by_id] == [s.id for s in GOLD]
    renamed = [s.with_predictions(s.entities, s.relations) for s in GOLD]
    renamed = [type(s)(f"pred-{i}", s.tokens, s.entities, s.relations) for i, s in enumerate(renamed)]
    by_pos, how = align_to_gold(GOLD, renamed)
    assert how == "position" and [s.id for s in by_pos] == [s.id for s in GOLD] and by_pos[1].relations
    with pytest.raises(DataError, match="by position, 2 sentences against 3 in gold"):
        align_to_gold(GOLD, renamed[:2])
    shuffled = [renamed[1], renamed[0], renamed[2]]
    with pytest.raises(DataError, match="sentence 1 .* other tokens"):
        align_to_gold(GOLD, shuffled)


def test_uploads_parse_in_memory_any_format_with_limits_and_located_errors() -> None:
    up = upload.parse("spert-pred.json", spert_json(worse()).encode())
    assert len(up.sentences) == 3 and up.sentences[0].id == "spert-pred-1"  # SpERT, detected
    aligned, how = align_to_gold(GOLD, up.sentences)
    assert how == "position" and aligned[2].relations == worse()[2].relations
    canonical = "".join(json.dumps(g) + "\n" for g in helpers.GOLD).encode()
    assert upload.parse("gold.jsonl", canonical).sentences == tuple(GOLD)
    with pytest.raises(DataError, match="upload limit"):
        upload.parse("big.json", b" " * (upload.MAX_BYTES + 1))
    bad = canonical + json.dumps({**helpers.GOLD[0], "id": "x", "entities": [[0, 99, "Task"]]}).encode()
    with pytest.raises(DataError) as err:
        upload.parse("bad.jsonl", bad)
    assert (str(err.value.path), err.value.line, err.value.field) == ("bad.jsonl", 4, "entities[0]")
    with pytest.raises(DataError, match="not UTF-8"):
        upload.parse("latin.json", b'[{"tokens": ["\xe9"]}]')


# ---------------------------------------------------------------------------------------------------------
# Analysis numbers, charts and exports (pure)


def paired() -> analysis.Analysis:
    return analysis.build(
        key="t", gold_name="toy", gold_source="toy.json", gold=GOLD,
        systems=[("Baseline", "a.jsonl", GOLD), ("ENPAR", "b.jsonl", worse())],
    )  # fmt: skip


def test_same_predictions_warn_and_names_stay_distinct() -> None:
    an = analysis.build(
        key="s", gold_name="toy", gold_source="g", gold=GOLD, systems=[("x", "f", GOLD), ("x", "f", GOLD)]
    )
    assert an.names == ("x (A)", "x (B)") and "the same file" in an.warnings[0]
    assert not paired().warnings


def test_sentence_rows_buckets_and_per_bucket_tests() -> None:
    an = paired()
    rows = analysis.sentence_rows(an, convention="relation_strict", symmetric="directed")
    assert [r["Baseline F1"] for r in rows] == [100.0, 100.0, 100.0]
    assert rows[0]["ENPAR F1"] == 0.0 and rows[0]["ENPAR FN"] == 1  # one to find, nothing predicted
    assert rows[2]["ENPAR FP"] == 1 and rows[2][analysis.delta_label(an)] == pytest.approx(-33.3)
    members = analysis.bucket_members(an, by="distance", convention="relation_strict", symmetric="directed")
    assert members["2"] == [0, 2]  # both pairs are two words apart
    n_rel = analysis.bucket_members(an, by="n_relations", convention="relation_strict", symmetric="directed")
    assert n_rel == {"1": [0, 2], "2": [1]}
    assert analysis.type_members(an, "COMPARE", entity=False) == [1]
    tests = analysis.bucket_tests(
        an, by="n_relations", convention="relation_strict", symmetric="directed", n_bootstrap=50
    )
    assert tests["2"]["delta"] == 0.0 and tests["1"]["delta"] < 0 and 0 < tests["1"]["p_value"] <= 1
    assert tests["<1"]["delta"] is None  # empty bucket: no test


def test_charts_are_honest_and_exports_carry_names() -> None:
    an = paired()
    rep = analysis.report(an, convention="relation_strict", symmetric="directed", n_bootstrap=50)
    df = reporting.breakdown_frame(rep, "n_relations")
    assert set(df["system"]) == {"Baseline", "ENPAR"}
    fig = reporting.breakdown_figure(df, title="t", convention="relation_strict", ci_note="whiskers: x")
    assert [t.name for t in fig.data] == ["Baseline", "ENPAR"] and fig.layout.yaxis.range[1] == 105
    low = df.assign(F1=df["F1"] / 10, **{"F1 CI high": df["F1 CI high"] / 10})
    scaled = reporting.breakdown_figure(low, title="t", convention="relation_strict")
    assert scaled.layout.yaxis.range[1] < 20  # auto-scaled: small F1 is not squashed
    assert (
        reporting.breakdown_figure(
            low, title="t", convention="relation_strict", full_scale=True
        ).layout.yaxis.range[1]
        == 105
    )
    assert reporting.bucket_name("<1", "n_relations") == "0" and "overlap" in reporting.bucket_name(
        "<1", "distance"
    )
    overall = reporting.overall_table(rep)
    assert {"ENPAR TP", "ENPAR FP", "ENPAR FN", "Baseline FN"} <= set(overall)
    assert "Δ (ENPAR − Baseline)" in reporting.paired_table(rep)
    assert "Correct" in set(reporting.taxonomy_frame(rep)["category"])
    md = report_export.markdown(rep, an, convention="relation_strict")
    assert md.startswith("# Baseline vs ENPAR on toy") and "| bucket |" in md and "percentile bootstrap" in md
    html = report_export.html(rep, an, convention="relation_strict")
    assert "<table" in html and "plotly" in html.lower()


def test_disagreement_lines_name_systems_and_entity_types() -> None:
    an = paired()
    items = examples.find_disagreements(GOLD, an.preds[0], an.preds[1], convention="relation")
    names = {"A": "Baseline", "B": "ENPAR"}
    lines = [
        examples.describe(
            d,
            GOLD[d.index],
            names,
            holder=examples.holder_of(
                d, GOLD[d.index], {"A": an.preds[0][d.index], "B": an.preds[1][d.index]}
            ),
        )
        for d in items
    ]
    assert (
        lines[0]
        == "USED-FOR: a neural network [Method] → relation extraction [Task] — only Baseline found it"
    )
    assert lines[-1].endswith("— only ENPAR predicted it (spurious)") and "[Task]" in lines[-1]
    rows = examples.rows(items, GOLD, {"A": an.preds[0], "B": an.preds[1]}, names)
    assert rows[0]["right"] == "Baseline" and rows[0]["head type"] == "Method"


def test_builtin_pairs_point_at_committed_files() -> None:
    for pair in builtin.PAIRS:
        assert "30 vs 15 epochs" in pair.caveat or pair.caveat
        for system in (pair.a, pair.b):
            for seed in pair.seeds:
                assert system.predictions(seed).is_file(), system.predictions(seed)


# ---------------------------------------------------------------------------------------------------------
# Pages (AppTest): no checkpoint at all


def app(**state: object) -> AppTest:
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def test_first_start_without_checkpoints_shows_the_committed_comparison(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, shared_data: Path
) -> None:
    if not (shared_data / "scierc" / "test.json").is_file():
        pytest.skip("the shared SciERC data is absent")
    monkeypatch.setenv("ENPAR_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("ENPAR_DATA", str(shared_data))
    at = app()
    assert not at.exception, [e.value for e in at.exception]
    assert at.button(key="starter_start")  # Compare offers the starter pair (not clicked: it trains)
    assert any("Time: about" in c.value and "min" in c.value for c in at.caption)
    at.switch_page("app/pages/breakdown.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["bd_source"] == "Built-in"
    info = "\n".join(i.value for i in at.info)
    assert "Unequal fine-tuning budgets: 30 vs 15 epochs" in info
    overall = at.dataframe[0].value
    assert {"BERT baseline F1", "ENPAR F1", "ENPAR TP"} <= set(overall)
    assert len(at.get("plotly_chart")) == 5
    at.selectbox(key="an_seed").set_value(5218).run()
    assert not at.exception
    at.switch_page("app/pages/examples.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("disagreements, in" in c.value for c in at.caption)
    assert 'class="enpar-row' in "\n".join(m.value for m in at.markdown)
    first = at.session_state["ex_drill_pos"]
    at.button(key="ex_drill_next").click().run()
    assert at.session_state["ex_drill_pos"] == first + 1


def test_files_source_scores_uploaded_predictions_one_or_two_systems(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ENPAR_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("ENPAR_DATA", str(helpers.write_split(tmp_path / "data")))
    # What the uploader leaves in the session once a file is parsed (AppTest cannot drive file_uploader).
    kept = {"A": upload.parse("mine.json", spert_json(worse()).encode())}
    at = app(bd_source="Files", an_uploads=kept)
    at.switch_page("app/pages/breakdown.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.dataframe[0].value.filter(like=" F1").columns) == 2  # one system: F1 and its CI
    assert "lined up with gold by position" in "\n".join(c.value for c in at.caption)
    kept["B"] = upload.parse("same.json", spert_json(worse()).encode())
    at.run()
    assert "hold exactly the same predictions" in "\n".join(w.value for w in at.warning)
    assert {"mine F1", "same F1"} <= set(at.dataframe[0].value)
