"""Inference: a fine-tuned checkpoint (or an ensemble, enpar.ensemble) -> entities and relations for
sentences or raw text, decoded as its decoding.json says (enpar.decoding). No training module is
imported here."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from enpar.config import Labels
from enpar.data import Example, Specials, collate, length_sorted_batches, make_examples
from enpar.decoding import DEFAULT_DECODING, Decoding, read_decoding
from enpar.document_vote import vote_document_types
from enpar.encoding import max_pieces
from enpar.model import JointModel
from enpar.runtime import autocast, pick_device, unwrap
from enpar.schema import Entity, Relation, Sentence

Progress = Callable[[int, int], None]


def run_inference(
    model: JointModel,
    examples: Sequence[Example],
    specials: Specials,
    *,
    device: torch.device,
    batch_size: int = 32,
    progress: Progress | None = None,
    bf16: bool = True,
    decoding: Decoding = DEFAULT_DECODING,
) -> list[tuple[list[Entity], list[Relation]]]:
    """Predictions aligned with `examples`: eval mode, inference_mode, batches of similar length; with
    decoding.document_type_vote, one type per mention string and document (enpar.document_vote)."""
    model = unwrap(model)  # type: ignore[assignment]
    was_training = model.training
    model.eval()
    results: list[tuple[list[Entity], list[Relation]]] = [([], []) for _ in examples]
    vote = decoding.document_type_vote
    type_probs: list[list[list[float]]] = [[] for _ in examples]  # filled only for the vote
    done, total = 0, len(examples)
    if progress:
        progress(0, total)
    try:
        with torch.inference_mode(), autocast(device, bf16):
            for idx in length_sorted_batches([len(ex) for ex in examples], batch_size):
                batch = collate([examples[i] for i in idx], specials, with_gold=False).to(device)
                out = model(batch)
                if vote:
                    for i, (ents, rels, probs) in zip(idx, model.decode_with_type_probs(out), strict=True):
                        results[i], type_probs[i] = (ents, rels), probs
                else:
                    for i, pred in zip(idx, model.decode(out), strict=True):
                        results[i] = pred
                done += len(idx)
                if progress:
                    progress(done, total)
    finally:
        model.train(was_training)
    if vote:
        sentences = [ex.sentence for ex in examples]
        return vote_document_types(sentences, results, type_probs, model.labels.entity[1:])
    return results


class Predictor:
    """A fine-tuned JointModel (or Ensemble) with its tokenizer and decoding, ready for sentences or text."""

    def __init__(
        self,
        model: JointModel,
        tokenizer: Any,
        *,
        device: torch.device | str | None = None,
        batch_size: int = 32,
        bf16: bool = True,
        decoding: Decoding = DEFAULT_DECODING,
    ) -> None:
        self.device = torch.device(device) if device is not None else pick_device()
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.bf16 = bf16
        self.decoding = decoding
        limit = max_pieces(tokenizer, model.encoder.sentence.model.config, model.config.max_pieces)
        self.specials = Specials.of(tokenizer, limit)
        self.checkpoint_config: dict[str, Any] | None = None  # config.json when loaded from a checkpoint

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        *,
        device: torch.device | str | None = None,
        batch_size: int = 32,
        document_type_vote: bool | None = None,
    ) -> Predictor:
        """The checkpoint's model and decoding (decoding.json; `document_type_vote` overrides it)."""
        return cls.from_checkpoints(
            [path], device=device, batch_size=batch_size, document_type_vote=document_type_vote
        )

    @classmethod
    def from_checkpoints(
        cls,
        paths: Sequence[str | Path],
        *,
        device: torch.device | str | None = None,
        batch_size: int = 32,
        document_type_vote: bool | None = None,
    ) -> Predictor:
        """One checkpoint, or several read as one model (enpar.ensemble.load_extractor), decoded as the
        first one's decoding.json says, with `document_type_vote` overriding it where given."""
        from enpar.ensemble import load_extractor

        model, tokenizer, config = load_extractor(paths)
        decoding = read_decoding(paths[0]).with_overrides(document_type_vote=document_type_vote)
        predictor = cls(model, tokenizer, device=device, batch_size=batch_size, decoding=decoding)  # type: ignore[arg-type]
        predictor.checkpoint_config = config
        return predictor

    @property
    def labels(self) -> Labels:
        return self.model.labels

    def examples(self, sentences: Sequence[Sentence], labels: Labels | None = None) -> list[Example]:
        """Sentences tokenised as this model reads them."""
        return make_examples(list(sentences), self.tokenizer, labels)

    def predict_sentences(
        self, sentences: Sequence[Sentence], *, progress: Progress | None = None
    ) -> list[Sentence]:
        """The same sentences (ids, tokens, doc ids, meta) carrying predicted entities and relations."""
        examples = self.examples(sentences)
        preds = run_inference(
            self.model,
            examples,
            self.specials,
            device=self.device,
            batch_size=self.batch_size,
            progress=progress,
            bf16=self.bf16,
            decoding=self.decoding,
        )
        return [s.with_predictions(e, r) for s, (e, r) in zip(sentences, preds, strict=True)]

    def predict(
        self, texts: str | Sequence[str], *, progress: Progress | None = None, nlp: Any = None
    ) -> list[Sentence]:
        """Raw text (one string or several documents) -> sentences split and tokenised by spaCy
        (enpar.nlp, sentences only), ids "<text index>-<sentence index>", doc_id "<text index>"."""
        from enpar.nlp import split_sentences  # nlp=None: the default spaCy model, loaded once (cached)

        if isinstance(texts, str):
            texts = [texts]
        sentences: list[Sentence] = []
        for i, text in enumerate(texts):
            for j, tokens in enumerate(t for t in split_sentences(text, nlp) if t):
                sentences.append(Sentence(f"{i}-{j}", tuple(tokens), doc_id=str(i)))
        return self.predict_sentences(sentences, progress=progress)
