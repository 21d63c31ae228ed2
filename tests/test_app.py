"""The Streamlit app: rendering and escaping, run control, and every page through AppTest.

Checkpoints are tiny random models built here with the model's public API (tests/studio_helpers.py);
evaluation runs go through the real worker and `enpar evaluate`.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
import studio_helpers as helpers
from streamlit.testing.v1 import AppTest

from app import analysis, examples, loading, reporting, runs
from enpar.schema import Relation, sentence_from_json

ROOT = Path(__file__).resolve().parents[1]
ENTRY = str(ROOT / "streamlit_app.py")
XSS = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>")
TIMEOUT = 120  # the first run of a page loads models (seconds)
A_NAME, B_NAME = "bert-baseline/best (BERT baseline)", "enpar/best (ENPAR)"  # the test checkpoints' labels


# ---------------------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory, tiny_encoder_dir: Path) -> dict[str, Path]:
    """A runs folder with a baseline (A) and an ENPAR (B) checkpoint, and a data folder with one dataset."""
    base = tmp_path_factory.mktemp("studio")
    return {
        "runs": helpers.make_runs_folder(base / "runs", encoder=tiny_encoder_dir),
        "data": helpers.write_split(base / "data"),
    }


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, studio: dict[str, Path]) -> dict[str, Path]:
    monkeypatch.setenv("ENPAR_RUNS", str(studio["runs"]))
    monkeypatch.setenv("ENPAR_DATA", str(studio["data"]))
    return studio


def app(**state: object) -> AppTest:
    at = AppTest.from_file(ENTRY, default_timeout=TIMEOUT)
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def html_of(at: AppTest) -> str:
    """The rendered sentence blocks (drawn with st.markdown(unsafe_allow_html=True))."""
    return "\n".join(m.value for m in at.markdown if "enpar-" in m.value)


def texts(elements: object) -> str:
    return "\n".join(str(e.value) for e in elements)  # type: ignore[attr-defined]


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


# ---------------------------------------------------------------------------------------------------------
# Rendering (pure)


# ---------------------------------------------------------------------------------------------------------
# Runs: database and worker (fake commands stand in for `enpar evaluate`)

FAKE_EVAL = """
import json, pathlib, sys, time
out = pathlib.Path(sys.argv[1]); n = int(sys.argv[2])
for i in range(n + 1):
    (out / "progress.json").write_text(json.dumps({"done": i, "total": n, "stage": "predict"}))
    time.sleep(0.05)
(out / "predictions.jsonl").write_text("")
(out / "metrics.json").write_text(json.dumps({"systems": {"pred": {"scores": {}}}}))
(out / "progress.json").write_text(json.dumps({"done": n, "total": n, "stage": "done"}))
print("scored")
"""


def start(store: runs.RunStore, snippet: str, *args: str, name: str = "fake") -> runs.Run:
    """A run whose command is a Python snippet; "{out}" in args becomes the run's output folder."""
    return runs.start_run(
        store,
        checkpoint="/c",
        checkpoint_name=name,
        dataset="/d",
        split="x/dev",
        command=[sys.executable, "-c", snippet, *args],
        force=True,  # these tests start look-alike runs on purpose
    )


def wait(store: runs.RunStore, run_id: int, timeout: float = 60) -> runs.Run:
    end = time.time() + timeout
    while time.time() < end:
        run = store.get(run_id)
        if not run.active:
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} still {store.get(run_id).status}")


def test_runs_finish_fail_and_cancel_and_two_at_once_do_not_collide(tmp_path: Path) -> None:
    store = runs.RunStore.for_runs_dir(tmp_path)
    first = start(store, FAKE_EVAL, "{out}", "20", name="one")
    second = start(store, FAKE_EVAL, "{out}", "20", name="two")  # concurrently with the first
    bad = start(store, "import sys; print('loading…'); sys.exit('error: data.json:3: field tokens: bad')")
    slow = start(store, "import time; time.sleep(60)")
    time.sleep(0.5)
    runs.cancel(store, slow.id)

    done = [wait(store, r.id) for r in (first, second)]
    assert [r.status for r in done] == ["done", "done"]
    assert all(
        r.metrics.exists() and r.progress() == {"done": 20, "total": 20, "stage": "done"} for r in done
    )
    assert done[0].out != done[1].out and done[0].duration and done[0].duration > 0
    assert "scored" in done[0].log_tail() and done[0].who == runs.whoami()

    failed = wait(store, bad.id)
    assert failed.status == "failed" and failed.returncode == 1
    assert failed.error == "error: data.json:3: field tokens: bad" and "loading…" in failed.log_tail()
    cancelled = wait(store, slow.id)
    assert cancelled.status == "cancelled" and not runs.pid_alive(cancelled.pid)
    assert [r.id for r in store.runs()] == [slow.id, bad.id, second.id, first.id]


def test_reconcile_closes_runs_whose_worker_vanished(tmp_path: Path) -> None:
    store = runs.RunStore.for_runs_dir(tmp_path)
    lost = store.create(who="t", checkpoint="/c", checkpoint_name="c", dataset="/d", split="s")
    finished = store.create(who="t", checkpoint="/c", checkpoint_name="c", dataset="/d", split="s")
    out = tmp_path / "finished"
    out.mkdir()
    (out / "metrics.json").write_text("{}")
    (out / "progress.json").write_text(json.dumps({"done": 1, "total": 1, "stage": "done"}))
    dead_pid = 2**22 + 7  # above the default pid_max: never a live process
    store.update(lost.id, status="running", pid=dead_pid, started_at=time.time())
    store.update(finished.id, status="running", pid=dead_pid, out_dir=str(out), started_at=time.time())
    assert sorted(runs.reconcile(RunStoreReopened(store))) == [lost.id, finished.id]
    assert store.get(lost.id).status == "failed" and "restarted" in store.get(lost.id).error
    assert store.get(finished.id).status == "done"
    assert runs.reconcile(store) == []


def RunStoreReopened(store: runs.RunStore) -> runs.RunStore:  # noqa: N802
    """The database opened afresh, as a restarted app does."""
    return runs.RunStore(store.path)


# ---------------------------------------------------------------------------------------------------------
# Examples and report tables (pure)


def test_disagreements_and_their_filters() -> None:
    gold = [sentence_from_json(g) for g in helpers.GOLD]
    a = [
        gold[0],
        gold[1].with_predictions(gold[1].entities, []),
        gold[2].with_predictions(gold[2].entities, []),
    ]
    extra = Relation(gold[2].entities[1], gold[2].entities[0], "USED-FOR")
    b = [
        gold[0].with_predictions(gold[0].entities, []),
        gold[1],
        gold[2].with_predictions(gold[2].entities, [extra]),
    ]
    items = examples.find_disagreements(gold, a, list(reversed(b)))  # any order: aligned by id
    assert [(d.sentence_id, d.winner, d.kind) for d in items] == [
        ("d1-0", "A", "found"),
        ("d1-1", "B", "found"),
        ("d1-1", "B", "found"),
        ("d2-0", "A", "avoided"),
    ]
    b_right = examples.filter_disagreements(items, gold, category="B right, A wrong")
    assert {d.label for d in b_right} == {"EVALUATE-FOR", "COMPARE"}
    used_for = examples.filter_disagreements(items, gold, label="USED-FOR", bucket_by="distance", bucket="2")
    assert [d.sentence_id for d in used_for] == ["d1-0", "d2-0"]  # both pairs are 2 words apart
    assert examples.filter_disagreements(items, gold, bucket_by="n_entities", bucket="4") == items[1:3]
    assert list(examples.by_sentence(items)) == [0, 1, 2]
    assert "only A found it" in examples.describe(items[0], gold[0])


def test_report_tables_and_charts() -> None:
    from enpar.metrics import report

    gold = [sentence_from_json(g) for g in helpers.GOLD]
    worse = [gold[0].with_predictions(gold[0].entities, [])] + gold[1:]
    rep = report(gold, gold, vs=worse, n_bootstrap=50)
    overall = reporting.overall_table(rep)
    assert len(overall) == 3 * 2 and {"A F1", "B F1", "A F1 95% CI", "gold"} <= set(overall)
    assert overall.query("average == 'micro'")["A F1"].tolist() == [100.0, 100.0, 100.0]
    assert overall.query("average == 'micro'")["B F1"].tolist()[1] < 100
    assert len(reporting.paired_table(rep)) == 3
    t7 = reporting.per_type_table(rep, "relation_strict")
    assert t7.set_index("type").loc["USED-FOR", "gold"] == 2 and "B F1" in t7
    for by in reporting.BREAKDOWN_TITLES:
        df = reporting.breakdown_frame(rep, by)
        fig = reporting.breakdown_figure(df, title=by, convention="relation_strict")
        assert len(fig.data) == 2 and df["support"].sum() > 0
    tax = reporting.taxonomy_frame(rep)
    assert (
        tax.query("system == 'B' and side == 'gold relations' and category == 'Missed: both entities found'")[
            "count"
        ].item()
        == 1
    )


def test_checkpoints_are_found_with_their_roles(studio: dict[str, Path], tmp_path: Path) -> None:
    found = loading.find_checkpoints(studio["runs"])
    assert [(c.name, c.role) for c in found] == [("bert-baseline/best", "baseline"), ("enpar/best", "enpar")]
    a, b = loading.default_pair(found)
    assert a and a.endswith("bert-baseline/best") and b and b.endswith("enpar/best")
    assert loading.find_checkpoints(tmp_path / "missing") == []


# ---------------------------------------------------------------------------------------------------------
# Pages (AppTest)

PAGES = ("app/pages/compare.py", "app/pages/breakdown.py", "app/pages/examples.py", "app/pages/runs.py")


def test_without_checkpoints_or_data_every_page_says_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ENPAR_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("ENPAR_DATA", str(tmp_path / "no-data"))
    at = app()
    no_exception(at)
    assert "No checkpoint found" in texts(at.warning)  # Compare: nothing can predict, here is how to make one
    code = texts(at.code)
    assert (
        "enpar finetune --train" in code and "--preset scierc-cpu" in code and str(tmp_path / "runs") in code
    )
    for page in PAGES[1:3]:  # Breakdown, Examples: the built-in comparison, which needs the shared gold
        at.switch_page(page).run()
        no_exception(at)
        assert at.session_state["bd_source"] == "Built-in"
        assert "needs the gold split **scierc/test**" in texts(at.warning) and "ENPAR_DATA" in texts(
            at.warning
        )
    at.switch_page(PAGES[3]).run()
    assert "No evaluation run yet" in texts(at.info)


def test_compare_shows_both_systems_and_escapes_pasted_html(env: dict[str, Path]) -> None:
    at = app()
    no_exception(at)
    assert at.selectbox(key="sb_ckpt_a").value.endswith("bert-baseline/best")  # defaults: A = baseline
    assert at.selectbox(key="sb_ckpt_b").value.endswith("enpar/best")  # B = ENPAR
    assert "Paste one or more sentences" in texts(at.info)  # empty input: a friendly message

    paste = f"We evaluate {XSS[0]} on SciERC.\nThen {XSS[1]} and Zoë's 李雷 😀 join."
    at.text_area(key="cmp_text").input(paste).run()
    no_exception(at)
    out = html_of(at)
    assert "A: bert-baseline/best (BERT baseline)" in out and "B: enpar/best (ENPAR)" in out
    assert "<script" not in out and "<img" not in out
    assert "alert(1)&lt;/script" in out and "onerror" in out and "李雷" in out and "😀" in out
    assert 'class="arc' in out and 'class="ent' in out
    assert at.caption[0].value.startswith("2 sentences")
    download = at.get("download_button")[0]
    assert download.proto.label == "Download predictions (JSON lines)"

    at.segmented_control(key="cmp_paste_view").set_value("Table").run()
    table = at.dataframe[0].value
    assert set(table["system"]) == {f"A: {A_NAME}", f"B: {B_NAME}"} and {"entity"} <= set(table["kind"])


def test_compare_long_paste_runs_in_batches(env: dict[str, Path]) -> None:
    text = "The parser helps translation and the model is compared with SpERT . " * 700
    assert len(text) > 45_000
    at = app(cmp_text=text)
    no_exception(at)
    n = int(at.caption[0].value.split()[0])
    assert n >= 100  # split into sentences
    assert at.number_input(key="cmp_paste_page").max == -(-n // 10)  # drawn 10 sentences a page
    assert html_of(at).count("enpar-row") == 10


def test_compare_dataset_sentence_brings_gold(env: dict[str, Path]) -> None:
    at = app(cmp_source="Dataset sentence", cmp_index=1)
    no_exception(at)
    out = html_of(at)
    assert "Gold" in out and "SciERC" in out and ("✓" in out or "✗" in out)
    assert "relations correct" in at.caption[0].value


def test_broken_checkpoint_shows_the_error_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, studio: dict[str, Path]
) -> None:
    import shutil

    runs_dir = tmp_path / "runs"
    shutil.copytree(studio["runs"] / "bert-baseline", runs_dir / "bert-baseline")
    (runs_dir / "bert-baseline" / "best" / "model.safetensors").write_bytes(b"\x80\x04 not safetensors")
    monkeypatch.setenv("ENPAR_RUNS", str(runs_dir))
    monkeypatch.setenv("ENPAR_DATA", str(studio["data"]))
    at = app(cmp_text="We use a parser .")
    no_exception(at)
    errors = texts(at.error)
    assert "could not predict" in errors and "model.safetensors" in errors and "pickle" in errors


def test_dataset_errors_name_file_line_and_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, studio: dict[str, Path]
) -> None:
    data = tmp_path / "data" / "broken"
    data.mkdir(parents=True)
    good = json.dumps(helpers.GOLD[0])
    bad = json.dumps({**helpers.GOLD[0], "entities": [[0, 99, "Task"]], "relations": []})
    (data / "test.json").write_text(good + "\n" + bad + "\n")
    monkeypatch.setenv("ENPAR_RUNS", str(studio["runs"]))
    monkeypatch.setenv("ENPAR_DATA", str(tmp_path / "data"))
    at = app(cmp_source="Dataset sentence")
    no_exception(at)
    errors = texts(at.error)
    assert "test.json" in errors and "line 2" in errors and "entities[0]" in errors


def test_pages_live_outside_streamlits_pages_folder_and_keep_the_frame(env: dict[str, Path]) -> None:
    """No `pages/` beside the entrypoint (no legacy multipage mode, nothing patched): every rerun goes
    through streamlit_app.py, so the sidebar and its state are there on every page."""
    assert not list((ROOT / "pages").glob("*.py"))  # Streamlit would run such files on its own
    assert "PagesManager" not in (ROOT / "app" / "ui.py").read_text()
    at = app()
    at.selectbox(key="sb_ckpt_a").set_value(at.selectbox(key="sb_ckpt_b").value).run()
    for page in PAGES:
        at.switch_page(page).run()
        no_exception(at)
        assert at.selectbox(key="sb_ckpt_a").value.endswith("enpar/best") and at.button(key="sb_eval_start")


def test_evaluation_runs_from_the_sidebar_then_breakdown_examples_and_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, studio: dict[str, Path]
) -> None:
    import shutil

    runs_dir = tmp_path / "runs"  # own folder: its runs database starts empty
    shutil.copytree(studio["runs"], runs_dir, ignore=shutil.ignore_patterns("evaluations", "*.sqlite*"))
    monkeypatch.setenv("ENPAR_RUNS", str(runs_dir))
    monkeypatch.setenv("ENPAR_DATA", str(studio["data"]))

    calls: list[dict[str, object]] = []
    compute = analysis.report

    def spy(*args: object, **kwargs: object) -> dict[str, object]:
        calls.append(kwargs)
        return compute(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(analysis, "report", spy)

    at = app()
    at.switch_page("app/pages/breakdown.py").run()
    assert "No finished evaluation" in texts(at.info)
    at.button(key="sb_eval_start").click().run()  # sidebar: evaluate A and B on scierc/test
    no_exception(at)
    started = at.session_state["sb_last_started"]
    assert len(started) == 2 and "Started runs" in texts(at.success)

    store = runs.RunStore.for_runs_dir(runs_dir)
    finished = [wait(store, i, timeout=180) for i in started]
    assert [r.status for r in finished] == ["done", "done"], [r.error for r in finished]

    at.switch_page("app/pages/runs.py").run()
    no_exception(at)
    table = at.dataframe[0].value
    assert list(table["status"]) == ["done", "done"] and "Relation (exactly) F1" in table
    assert "Entity F1" in [m.label for m in at.metric]
    at.button(key=f"runs_open_{started[1]}").click().run()  # opens the run in Breakdown
    no_exception(at)
    assert at.session_state["bd_source"] == "One run" and at.session_state["bd_run"] == started[1]
    assert len(at.get("plotly_chart")) == 5

    # AppTest keeps requesting the page last given to at.switch_page, so name the one the app switched to
    at.switch_page("app/pages/breakdown.py")
    at.segmented_control(key="bd_source").set_value("Checkpoints").run()
    no_exception(at)
    overall = at.dataframe[0].value
    assert {f"{A_NAME} F1", f"{B_NAME} F1", f"{A_NAME} TP", f"{B_NAME} FN"} <= set(overall) and len(
        overall
    ) == 6
    paired = at.dataframe[1].value
    assert "p-value" in paired and len(paired) == 3
    before = at.dataframe[3].value.copy()  # per relation type, strict
    at.segmented_control(key="bd_convention").set_value("relation").run()  # boundaries
    at.segmented_control(key="bd_symmetric").set_value("unordered").run()
    no_exception(at)
    assert "Relation (boundaries)" in texts(at.markdown) and len(at.get("plotly_chart")) == 5
    assert calls[-1] == {"symmetric": "unordered", "convention": "relation", "n_bootstrap": 1000}
    assert at.dataframe[3].value.shape[0] >= 1 and before.shape[0] >= 1

    at.switch_page("app/pages/examples.py").run()
    no_exception(at)
    assert "disagreements, in" in texts(at.caption)
    at.selectbox(key="ex_category").set_value("B right, A wrong").run()
    no_exception(at)


def test_runs_page_shows_progress_cancel_and_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, studio: dict[str, Path]
) -> None:
    runs_dir = tmp_path / "runs"
    monkeypatch.setenv("ENPAR_RUNS", str(runs_dir))
    monkeypatch.setenv("ENPAR_DATA", str(studio["data"]))
    store = runs.RunStore.for_runs_dir(runs_dir)
    slow = start(store, FAKE_EVAL.replace("time.sleep(0.05)", "time.sleep(5)"), "{out}", "10", name="slow")
    bad = start(store, "import sys; print('step 1'); sys.exit('error: gold.json:7: field relations[0]: bad')")
    wait(store, bad.id)
    end = time.time() + 30
    while not store.get(slow.id).progress() and time.time() < end:
        time.sleep(0.1)

    at = app()
    at.switch_page("app/pages/runs.py").run()
    no_exception(at)
    progress = [p.proto.text for p in at.get("progress")]
    assert any("slow on x/dev: loading models" in t or "slow on x/dev: predict" in t for t in progress), (
        progress
    )
    at.selectbox(key="runs_pick").set_value(bad.id).run()
    assert "gold.json:7: field relations[0]" in texts(at.error)
    assert any("step 1" in c.value for c in at.code)  # the log tail
    at.button(key=f"runs_cancel_{slow.id}").click().run()
    no_exception(at)
    assert wait(store, slow.id).status == "cancelled"


def test_breakdown_also_reads_enpar_evaluate_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, studio: dict[str, Path]
) -> None:
    """Evaluations made on the command line (e.g. by `make demo`) count as finished runs."""
    import shutil

    from enpar.schema import write_jsonl

    runs_dir = tmp_path / "runs"
    shutil.copytree(studio["runs"], runs_dir, ignore=shutil.ignore_patterns("evaluations", "*.sqlite*"))
    gold_path = studio["data"] / "scierc" / "test.json"
    gold = [sentence_from_json(g) for g in helpers.GOLD]
    for model, preds in (
        ("bert-baseline", gold),
        ("enpar", [g.with_predictions(g.entities, []) for g in gold]),
    ):
        out = runs_dir / model / "test"
        write_jsonl(preds, out / "predictions.jsonl")
        source = {"checkpoint": str(runs_dir / model / "best"), "data": str(gold_path)}
        (out / "metrics.json").write_text(json.dumps({"source": source}))
    monkeypatch.setenv("ENPAR_RUNS", str(runs_dir))
    monkeypatch.setenv("ENPAR_DATA", str(studio["data"]))

    at = app()
    at.switch_page("app/pages/breakdown.py").run()
    no_exception(at)
    overall = at.dataframe[0].value.set_index(["convention", "average"])
    assert overall.loc[("Relation (exactly)", "micro"), f"{A_NAME} F1"] == 100.0
    assert overall.loc[("Relation (exactly)", "micro"), f"{B_NAME} F1"] == 0.0
    assert "bert-baseline/test" in texts(at.caption) + texts(at.info)
