"""A linear-chain CRF over the BIEOU span tags (ModelConfig.tag_loss="crf"; not in the paper).

The paper trains the tagger with a cross-entropy per word, so each word's tag is chosen alone and the argmax
is often not a valid sequence ("B O", "O I E"); decoding with Viterbi repairs that after the fact
(tag_decoder="viterbi"). A CRF trains for whole valid sequences instead: the loss is the negative
log-likelihood of the gold sequence among all valid ones, with learned transition, start and end scores.
Invalid transitions are fixed at a large negative score, never learned.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from enpar.tagging import CAN_END, CAN_FOLLOW, CAN_START, PAD_ID, TAGS

# The score of what BIEOU forbids: finite (not -inf) so that logsumexp and its gradient stay finite, and
# low enough that exp() of it is 0 in float32.
FORBIDDEN = -1e4


class TagCRF(nn.Module):
    """Transition, start and end scores (zero at init, so training starts from the per-word model)."""

    def __init__(self) -> None:
        super().__init__()
        n = len(TAGS)
        self.transitions = nn.Parameter(torch.zeros(n, n))  # [previous tag][next tag]
        self.start = nn.Parameter(torch.zeros(n))
        self.end = nn.Parameter(torch.zeros(n))
        # constants of BIEOU, rebuilt from enpar.tagging rather than saved with checkpoints
        self.register_buffer("can_follow", torch.tensor(CAN_FOLLOW), persistent=False)
        self.register_buffer("can_start", torch.tensor(CAN_START), persistent=False)
        self.register_buffer("can_end", torch.tensor(CAN_END), persistent=False)

    def scores(self) -> tuple[Tensor, Tensor, Tensor]:
        """(transitions (T, T), start (T,), end (T,)) with BIEOU's forbidden moves at FORBIDDEN."""
        return (
            self.transitions.masked_fill(~self.can_follow, FORBIDDEN),
            self.start.masked_fill(~self.can_start, FORBIDDEN),
            self.end.masked_fill(~self.can_end, FORBIDDEN),
        )

    def decode_scores(self) -> dict[str, list]:
        """The learned scores as Python lists, the keyword arguments of enpar.tagging.viterbi."""
        trans, start, end = (t.detach().float().tolist() for t in self.scores())
        return {"transitions": trans, "start": start, "end": end}

    def nll(self, emissions: Tensor, tags: Tensor) -> Tensor:
        """Summed negative log-likelihood of the gold tag sequences. emissions (B, N, T) are the tagger's
        logits; tags (B, N) the gold ids, PAD after each sentence's last word (a sentence's words come
        first). Sentences with no words add nothing."""
        trans, start, end = self.scores()
        emissions = emissions.float().masked_fill(
            torch.arange(len(TAGS), device=emissions.device) == PAD_ID, FORBIDDEN
        )
        mask = tags != PAD_ID  # (B, N)
        lengths = mask.sum(1)
        present = lengths > 0
        if not bool(present.any()):
            return emissions.sum() * 0.0
        emissions, tags, mask, lengths = emissions[present], tags[present], mask[present], lengths[present]

        # log partition: the forward algorithm, one word at a time (sentences are short, T = 6)
        alpha = start + emissions[:, 0]  # (B, T)
        for i in range(1, emissions.shape[1]):
            step = torch.logsumexp(alpha.unsqueeze(2) + trans, dim=1) + emissions[:, i]
            alpha = torch.where(mask[:, i : i + 1], step, alpha)
        log_z = torch.logsumexp(alpha + end, dim=1)

        # the gold sequences' scores
        word = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)  # (B, N)
        gold = start[tags[:, 0]] + torch.where(mask, word, 0.0).sum(1)
        moves = trans[tags[:, :-1], tags[:, 1:]]  # (B, N - 1)
        gold = gold + torch.where(mask[:, 1:], moves, 0.0).sum(1)
        gold = gold + end[tags.gather(1, (lengths - 1).unsqueeze(1)).squeeze(1)]
        return (log_z - gold).sum()
