"""No repeats: content the HCP already engaged with is not proposed again."""
from __future__ import annotations

import numpy as np

from engine.rules.base import Ask, ContentRule, RuleContext, csr_rows


class AlreadyEngaged(ContentRule):
    """Attributes (after :meth:`fit`): ``indptr_``, ``indices_``: CSR of the contents each serving HCP
    engaged with (serving indices, sorted)."""

    def fit(self, context: RuleContext) -> None:
        snapshot = context.snapshot
        h = context.serving_hcp[snapshot.consumed_hcp]
        c = context.serving_content[snapshot.consumed_content]
        ok = (h >= 0) & (c >= 0)
        h, c = h[ok], c[ok]
        order = np.lexsort((c, h))
        self.indices_ = c[order]
        self.indptr_ = np.concatenate([[0], np.cumsum(np.bincount(h, minlength=context.n_hcps))])
        self.n_contents_ = context.n_contents

    def engaged(self, hcp_idx: np.ndarray) -> np.ndarray:
        """Bool [n, n_contents]: content already engaged by each HCP."""
        hcp_idx = np.asarray(hcp_idx)
        rows, pos = csr_rows(self.indptr_, hcp_idx)
        mask = np.zeros((len(hcp_idx), self.n_contents_), dtype=bool)
        mask[rows, self.indices_[pos]] = True
        return mask

    def allows(self, ask: Ask) -> np.ndarray:
        return ~self.engaged(ask.hcp)

    def summary(self, hcp: int) -> dict:
        return {"excluded_consumed": int(self.indptr_[hcp + 1] - self.indptr_[hcp])}
