"""Safer runs (app.runs, app.run_checks, app.starter): data checked before a run starts, an identical
active run reused, stale runs flagged and retried, a "loading models" stage, the starter pair's plan."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import sys
import time
from pathlib import Path

import pytest
import studio_helpers as helpers

from app import run_checks, runs, starter

SLEEP = [sys.executable, "-c", "import time; time.sleep(30)", "{out}"]


def gold_file(tmp_path: Path) -> Path:
    return helpers.write_split(tmp_path / "data") / "scierc" / "test.json"


def fake_checkpoint(tmp_path: Path, name: str = "my-baseline") -> Path:
    folder = tmp_path / name / "best"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"kind": "finetune"}))
    (folder / "model.safetensors").write_bytes(b"0")
    return folder


def wait(store: runs.RunStore, run_id: int, timeout: float = 60) -> runs.Run:
    end = time.time() + timeout
    while time.time() < end:
        if not (run := store.get(run_id)).active:
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} still {store.get(run_id).status}")


def test_bad_data_is_refused_before_a_run_starts_naming_file_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    good = json.dumps(helpers.GOLD[0])
    bad.write_text(good + "\n" + good.replace('"tokens"', '"tokenz"') + "\n")
    check = run_checks.check_dataset(bad)
    assert not check.ok and f"file {bad}" in check.message and "line 2" in check.message, check.message
    ok = run_checks.check_dataset(gold_file(tmp_path))
    assert ok.ok and ok.n_sentences == 3
    assert "cannot be read" in run_checks.check_dataset(tmp_path / "missing.json").message

    store = runs.RunStore.for_runs_dir(tmp_path / "runs")
    ckpt = fake_checkpoint(tmp_path)
    with pytest.raises(runs.RunError, match="line 2"):
        runs.start_run(store, checkpoint=ckpt, dataset=bad, split="x/test")
    with pytest.raises(runs.RunError, match="no model.safetensors"):
        runs.start_run(store, checkpoint=tmp_path, dataset=gold_file(tmp_path), split="x/test")
    assert store.runs() == []  # nothing recorded, nothing spawned


def test_an_identical_active_run_is_reused_unless_forced(tmp_path: Path) -> None:
    store = runs.RunStore.for_runs_dir(tmp_path / "runs")
    ckpt, gold = fake_checkpoint(tmp_path), gold_file(tmp_path)

    def start(**kw: object) -> runs.Run:
        return runs.start_run(store, checkpoint=ckpt, dataset=gold, split="scierc/test", command=SLEEP, **kw)

    first = start()
    assert first.checkpoint_name == "my-baseline/best"  # the real folder name, not "A"
    assert start().id == first.id
    assert runs.identical_active(store, checkpoint=ckpt, dataset=gold, command=SLEEP).id == first.id
    second = start(force=True)
    assert second.id != first.id
    for run in (first, second):
        runs.cancel(store, run.id)
    assert {wait(store, r.id).status for r in (first, second)} == {"cancelled"}
    third = start()  # nothing active any more: a new run
    assert third.id not in (first.id, second.id)
    runs.cancel(store, third.id)
    wait(store, third.id)


def test_stale_runs_are_flagged_and_retried_as_new_runs(tmp_path: Path) -> None:
    store = runs.RunStore.for_runs_dir(tmp_path / "runs")
    ckpt, gold = fake_checkpoint(tmp_path), gold_file(tmp_path)
    fast = [sys.executable, "-c", "import sys; sys.exit(3)", "{out}"]
    failed = wait(store, runs.start_run(store, checkpoint=ckpt, dataset=gold, split="s", command=fast).id)
    assert failed.status == "failed" and failed.gold_stamp and failed.checkpoint_stamp
    again = runs.retry(store, failed.id)
    assert again.id != failed.id and json.loads(again.template) == fast
    wait(store, again.id)

    store.update(failed.id, status="done")
    assert run_checks.stale_reason(store.get(failed.id)) == ""
    gold.write_text(gold.read_text() + json.dumps({**helpers.GOLD[2], "id": "d3-0"}) + "\n")
    assert "data file changed" in run_checks.stale_reason(store.get(failed.id))
    (ckpt / "model.safetensors").write_bytes(b"01")
    assert "weights changed" in run_checks.stale_reason(store.get(failed.id))


def test_stages_read_loading_models_until_predictions_start(tmp_path: Path) -> None:
    store = runs.RunStore.for_runs_dir(tmp_path)
    run = store.create(who="t", checkpoint="/c", checkpoint_name="c", dataset="/d", split="s")
    out = tmp_path / "out"
    out.mkdir()
    store.update(run.id, status="running", out_dir=str(out))
    stages = []
    for progress in (None, {"stage": "predict", "done": 0, "total": 9}, {"stage": "predict", "done": 3,
                     "total": 9}, {"stage": "score", "done": 9, "total": 9}):  # fmt: skip
        if progress:
            (out / "progress.json").write_text(json.dumps(progress))
        stages.append(run_checks.stage_text(store.get(run.id)))
    assert stages == ["loading models", "loading models", "predict 3/9", "scoring"]
    assert run_checks.stage_text(dataclasses.replace(store.get(run.id), status="queued")) == "queued"


def test_an_older_database_gains_the_new_columns(tmp_path: Path) -> None:
    path = tmp_path / runs.DB_NAME
    with sqlite3.connect(path) as con:  # the first release's table
        con.execute(runs._SCHEMA)
        con.execute(
            "INSERT INTO runs (who, checkpoint, checkpoint_name, dataset, split, created_at)"
            " VALUES ('t', '/c', 'c', '/d', 's', 0)"
        )
    store = runs.RunStore(path)
    (old,) = store.runs()
    assert old.kind == "evaluate" and old.template == "" and run_checks.stale_reason(old) == ""


def test_starter_pair_plan_uses_a_kept_pretrained_checkpoint_or_pretrains_first(tmp_path: Path) -> None:
    data = tmp_path / "scierc"
    kept = tmp_path / "checkpoints" / "enpar-pretrain" / "step-000400"
    kept.mkdir(parents=True)
    (kept / "config.json").write_text(json.dumps({"kind": "pretrain"}))
    (kept / "model.safetensors").write_bytes(b"0")
    assert starter.find_pretrained(tmp_path / "checkpoints") == kept
    assert starter.find_pretrained(tmp_path / "none") is None

    with_init = starter.plan(data, tmp_path / "out", init=kept)
    assert [s.title for s in with_init] == ["fine-tune the BERT baseline", "fine-tune ENPAR"]
    assert with_init[1].argv[-4:] == ["--init", str(kept), "--out", str(tmp_path / "out" / "enpar")]
    assert "--preset" in with_init[0].argv and "--epochs" in with_init[0].argv
    fresh = starter.plan(data, tmp_path / "out", init=None)
    assert len(fresh) == 5 and "pretrain" in fresh[3].argv
    assert fresh[-1].argv[fresh[-1].argv.index("--init") + 1].endswith(f"step-{starter.PT_STEPS:06d}")
    quick, slow = (starter.estimate_seconds(1861, pretrained=p) for p in (True, False))
    assert 0 < quick < slow
    quiet, loaded = starter.estimate_range(1861, pretrained=False)
    assert quiet == slow and 5 * 60 < quiet < 15 * 60 and loaded > 10 * quiet

    src = tmp_path / "wiki.raw"
    src.write_text("".join(f"line {i}\n" for i in range(10)))
    assert starter.main(["slice", str(src), str(tmp_path / "part.raw"), "3"]) == 0
    assert (tmp_path / "part.raw").read_text() == "line 0\nline 1\nline 2\n"
