"""Feedback: content a field user dismissed or snoozed for an HCP rests (the ask's ``excluded``).

The rests come with each request (:meth:`engine.service.feedback.FeedbackBook.constraints`), so a
dismissal counts at once, without refitting the rules.
"""
from __future__ import annotations

import numpy as np

from engine.rules.base import Ask, ContentRule, RuleContext


class FeedbackRests(ContentRule):
    def fit(self, context: RuleContext) -> None:
        self.n_contents_ = context.n_contents

    def allows(self, ask: Ask) -> np.ndarray:
        if ask.excluded is None:
            return np.ones((len(ask.hcp), self.n_contents_), dtype=bool)
        return ~np.asarray(ask.excluded, dtype=bool)
