"""enpar.distill: a teacher's targets file, its checks, the student's soft loss and a distilled run."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from studio_helpers import load_script

from enpar.checkpoint import save_checkpoint
from enpar.config import FinetuneConfig, Labels, ModelConfig
from enpar.data import SoftTargets, Specials, build_labels, collate, make_examples
from enpar.distill import attach_targets, read_targets, teacher_targets, write_targets
from enpar.encoding import load_tokenizer
from enpar.ensemble import Ensemble
from enpar.finetune import finetune
from enpar.model import JointModel, ordered_pairs
from enpar.schema import DataError, Entity, Relation, Sentence, write_jsonl
from enpar.tagging import PAD_ID, TAGS

pytestmark = pytest.mark.usefixtures("one_thread")


def _sentences(n: int, prefix: str = "t") -> list[Sentence]:
    out = []
    for i in range(n):
        a, b, c = Entity(0, 2, "Method"), Entity(3, 4, "Task"), Entity(5, 6, "Metric")
        rels = (Relation(a, b, "USED-FOR"), Relation(c, a, "EVALUATE-FOR"))
        toks = tuple(f"we use deep nets for parsing with f1 number {i} .".split())
        out.append(Sentence(f"{prefix}{i}", toks, (a, b, c), rels[: 1 + i % 2], doc_id="d"))
    return out


TRAIN = _sentences(6)
LABELS = build_labels(TRAIN)


def _model(encoder: Path, seed: int) -> JointModel:
    torch.manual_seed(seed)
    return JointModel.build(ModelConfig(encoder=str(encoder)), LABELS).eval()


def _one_hot(index: int, size: int) -> tuple[float, ...]:
    return tuple(1.0 if i == index else 0.0 for i in range(size))


def test_one_hot_targets_on_every_candidate_give_the_gold_loss(tiny_encoder_dir: Path) -> None:
    """With gold candidates only (both coins) and one-hot teacher targets equal to the gold on every tag,
    span and pair, the soft loss is the gold loss: the same candidates, the same means."""
    model = _model(tiny_encoder_dir, 0)
    tokenizer = load_tokenizer(str(tiny_encoder_dir))
    examples = make_examples(TRAIN, tokenizer, LABELS)
    soft_examples = []
    for ex in examples:
        g = ex.gold
        assert g is not None
        pairs = {p: _one_hot(g.pairs.get(p, 0), len(LABELS.relation)) for p in ordered_pairs(g.entities)}
        soft = SoftTargets(
            tuple(_one_hot(t, len(TAGS)) for t in g.tags),
            {s: _one_hot(lab, len(LABELS.entity)) for s, lab in g.entities.items()},
            pairs,
        )
        soft_examples.append(replace(ex, gold=replace(g, soft=soft)))
    batch = collate(soft_examples, Specials.of(tokenizer, 128))
    coins = [True] * len(TRAIN)
    out = model(batch, coins, coins)
    assert out.distill_loss is not None and out.loss is not None
    assert torch.allclose(out.distill_loss, out.loss, atol=1e-5)
    out.distill_loss.backward()  # the soft loss trains the model
    assert model.entity_head.weight.grad is not None
    plain = model(collate(examples, Specials.of(tokenizer, 128)), coins, coins)
    assert plain.distill_loss is None  # no teacher, no soft loss


def test_teacher_targets_round_trip_and_cover_gold(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    teacher = Ensemble([_model(tiny_encoder_dir, 1), _model(tiny_encoder_dir, 2)])
    tokenizer = load_tokenizer(str(tiny_encoder_dir))
    examples = make_examples(TRAIN, tokenizer, LABELS)
    targets = teacher_targets(teacher, examples, Specials.of(tokenizer, 128), device=torch.device("cpu"))
    for ex, t in zip(examples, targets, strict=True):
        assert ex.gold is not None and len(t.tags) == len(ex.sentence)
        assert all(p[PAD_ID] == 0.0 and abs(sum(p) - 1) < 1e-3 for p in t.tags)
        assert set(ex.gold.entities) <= set(t.entities)
        assert set(ex.gold.pairs) <= set(t.pairs)
        assert set(ordered_pairs(t.entities)) <= set(t.pairs)  # every start-ordered pair of the spans
    path = tmp_path / "targets.jsonl"
    write_targets(path, examples, targets, LABELS, teachers=["a", "b"], data="train.json")
    back = read_targets(path, LABELS)
    assert [back[ex.sentence.id] for ex in examples] == targets
    attached = attach_targets(examples, back, path)
    assert all(ex.gold is not None and ex.gold.soft == t for ex, t in zip(attached, targets, strict=True))
    with pytest.raises(ValueError, match="needs a batch with gold"):
        teacher.teach(collate(examples, Specials.of(tokenizer, 128), with_gold=False))


def _targets_file(path: Path, rows: list[dict], labels: Labels = LABELS, **header: object) -> Path:
    head = {"format": "enpar-teacher-targets", "version": 1, "labels": labels.to_dict(), "tags": list(TAGS)}
    path.write_text("\n".join(json.dumps(r) for r in [{**head, **header}, *rows]) + "\n", encoding="utf-8")
    return path


def test_bad_targets_files_are_refused_with_file_line_and_field(
    tiny_encoder_dir: Path, tmp_path: Path
) -> None:
    tag = [0.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    good = {"id": "t0", "tags": [tag] * 2, "entities": [], "pairs": []}
    with pytest.raises(DataError, match=r"t\.jsonl:1: field 'format'"):
        read_targets(_targets_file(tmp_path / "t.jsonl", [good], format="other"), LABELS)
    with pytest.raises(DataError, match="field 'labels'"):
        read_targets(_targets_file(tmp_path / "t.jsonl", [good], labels=Labels(("None", "X"))), LABELS)
    with pytest.raises(DataError, match=r"t\.jsonl:3: field 'id'.*twice"):
        read_targets(_targets_file(tmp_path / "t.jsonl", [good, good]), LABELS)
    bad = {**good, "entities": [[0, 1, [0.5, 0.5]]]}  # 2 values for 4 entity labels
    with pytest.raises(DataError, match=r"t\.jsonl:2: malformed.*2 values where 4"):
        read_targets(_targets_file(tmp_path / "t.jsonl", [bad]), LABELS)
    not_dist = {**good, "tags": [[0.0, 0.5, 0.0, 0.0, 0.0, 0.0]] * 2}
    with pytest.raises(DataError, match="not a probability distribution"):
        read_targets(_targets_file(tmp_path / "t.jsonl", [not_dist]), LABELS)
    with pytest.raises(DataError, match=r"t\.jsonl:2: field 'tags': missing"):
        read_targets(_targets_file(tmp_path / "t.jsonl", [{"id": "t0", "entities": [], "pairs": []}]), LABELS)
    (tmp_path / "j.jsonl").write_text(
        json.dumps(json.loads(_targets_file(tmp_path / "h", []).read_text())) + "\n{"
    )
    with pytest.raises(DataError, match=r"j\.jsonl:2: invalid JSON"):
        read_targets(tmp_path / "j.jsonl", LABELS)

    three_words = [Sentence("t0", ("a", "b", "c"))]  # targets for 2
    examples = make_examples(three_words, load_tokenizer(str(tiny_encoder_dir)), LABELS)
    targets = read_targets(_targets_file(tmp_path / "t.jsonl", [good]), LABELS)
    with pytest.raises(DataError, match="3 words, its targets 2"):
        attach_targets(examples, targets, "t.jsonl")
    with pytest.raises(DataError, match="no targets for training sentence 't0'"):
        attach_targets(examples, {}, "t.jsonl")


def test_a_distilled_run_logs_its_soft_loss_and_checks_its_settings(
    tiny_encoder_dir: Path, tmp_path: Path
) -> None:
    teacher = _model(tiny_encoder_dir, 1)
    tokenizer = load_tokenizer(str(tiny_encoder_dir))
    ckpt = tmp_path / "teacher"
    save_checkpoint(
        ckpt, teacher, kind="finetune", model_config=teacher.config, tokenizer=tokenizer, labels=LABELS
    )
    script = load_script("teacher_targets")
    targets = tmp_path / "targets.jsonl"
    data = tmp_path / "train.jsonl"
    write_jsonl(TRAIN, data)
    argv = [str(ckpt), "--data", str(data), "--out", str(targets), "--temperature", "2", "--no-progress"]
    assert script.main(argv) == 0
    assert json.loads(targets.read_text().splitlines()[0])["temperature"] == 2.0
    mc = ModelConfig(encoder=str(tiny_encoder_dir))
    cfg = FinetuneConfig(epochs=1, batch_size=3, eval_from_epoch=1, teacher=str(targets), distill_weight=0.5)
    finetune(TRAIN, TRAIN[:2], tmp_path / "run", model_config=mc, config=cfg, show_progress=False)
    record = json.loads((tmp_path / "run" / "dev_metrics.jsonl").read_text().splitlines()[0])
    assert record["train_losses"]["distill"] > 0
    saved = json.loads((tmp_path / "run" / "config.json").read_text())["finetune"]
    assert saved["teacher"] == str(targets) and saved["distill_weight"] == 0.5
    with pytest.raises(ValueError, match="needs a teacher"):
        finetune(
            TRAIN,
            TRAIN,
            tmp_path / "r2",
            model_config=mc,
            config=replace(cfg, teacher=None),
            show_progress=False,
        )
    with pytest.raises(ValueError, match=r"must be in \(0, 1\]"):
        finetune(
            TRAIN,
            TRAIN,
            tmp_path / "r3",
            model_config=mc,
            config=replace(cfg, distill_weight=0.0),
            show_progress=False,
        )


def test_temperature_softens_the_targets_and_travels_with_them(
    tiny_encoder_dir: Path, tmp_path: Path
) -> None:
    model = _model(tiny_encoder_dir, 1)
    with torch.no_grad():  # a confident entity head, so that the temperature has something to soften
        model.entity_head.weight.mul_(20.0)
    tokenizer = load_tokenizer(str(tiny_encoder_dir))
    specials = Specials.of(tokenizer, 128)
    examples = make_examples(TRAIN, tokenizer, LABELS)
    cpu = torch.device("cpu")
    hot = teacher_targets(Ensemble([model]), examples, specials, device=cpu)
    soft = teacher_targets(Ensemble([model]), examples, specials, device=cpu, temperature=2.0)
    assert all(t.temperature == 2.0 for t in soft) and all(t.temperature == 1.0 for t in hot)
    assert [list(t.entities) for t in soft] == [list(t.entities) for t in hot]  # the same spans
    top = [max(p) for t in soft for p in t.entities.values()]
    assert sum(top) < sum(max(p) for t in hot for p in t.entities.values())
    # one member: its own softmax(logits / T) on each span
    batch = collate(examples[:1], specials)
    with torch.no_grad():
        words = model.encoder.encode_batch(batch)
        spans = list(soft[0].entities)
        rows = torch.tensor([(0, st, ed) for st, ed in spans])
        expected = (model.entity_scores(words, rows)[1] / 2.0).softmax(-1)
    assert torch.allclose(torch.tensor([soft[0].entities[s] for s in spans]), expected, atol=1e-4)

    path = tmp_path / "t2.jsonl"
    write_targets(path, examples, soft, LABELS)
    assert next(iter(read_targets(path, LABELS).values())).temperature == 2.0
    with pytest.raises(DataError, match="field 'temperature'"):
        read_targets(_targets_file(tmp_path / "bad.jsonl", [], temperature=0), LABELS)
    with pytest.raises(ValueError, match="several temperatures"):
        write_targets(path, examples[:2], [hot[0], soft[1]], LABELS)
    mixed = [
        replace(ex, gold=replace(ex.gold, soft=t))
        for ex, t in zip(examples[:2], [hot[0], soft[1]], strict=True)
    ]
    with pytest.raises(ValueError, match="several temperatures in one batch"):
        model(collate(mixed, specials))
