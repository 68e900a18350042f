"""Business rules applied to every recommendation and plan step, vectorised over HCPs, contents and channels.

Each rule is one module here (a mask plus a note, :mod:`engine.rules.base`), composed by the
:class:`RuleBook` (:mod:`engine.rules.book`) in the order of :func:`standard_rules`:

- consent / opt-out per channel (:mod:`.consent`);
- channels in use: never a channel without a single touch in the data (:mod:`.channels_in_use`);
- contact-frequency caps over past, accepted and planned touches (:mod:`.contact_caps`);
- approval window: only content approved on the touch's own day (:mod:`.approval`, also the one
  approval calendar of the platform);
- no repeats of content the HCP already engaged with (:mod:`.engaged`);
- feedback: content dismissed or snoozed rests (:mod:`.feedback`).

Adding a rule: one module with a :class:`ChannelRule` or :class:`ContentRule`, its test, and a
line in :func:`standard_rules` (see docs/EXTENDING.md).
"""
from engine.rules.base import Ask, ChannelRule, ContentRule, Rule, RuleContext, touch_days
from engine.rules.book import RuledScores, RuleBook, standard_rules

__all__ = ["Ask", "ChannelRule", "ContentRule", "Rule", "RuleBook", "RuleContext", "RuledScores", "standard_rules",
           "touch_days"]
