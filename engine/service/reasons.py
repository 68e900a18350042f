"""Turn the scorer's additive factors into short sentences a field rep can read.

The hybrid scorer reports, per content item, how much each factor ("topic match", "peers",
"recent sequence", "channel affinity", "content appeal") added to the engagement logit. Those
factors decide *which* reasons a recommendation gets and in which order; the words come from the
data behind each factor, with numbers: the topic in words people say, how often the HCP engaged
with it, how many colleagues of the same specialty (in the same state) engaged with the content,
the HCP's last engagement and when, the HCP's response on the channel, the content's response
overall. A row's first reason is the factor that sets it apart from the other rows shown with it
(its contribution above their mean), so ten rows do not open with the same sentence.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from engine.config import CHANNEL_TABLE, CHANNELS, channel_label
from engine.data.reference import STATE_CODES

#: at most this many factors per reason list
MAX_REASONS = 3
#: colleagues in the HCP's own state are cited when at least this many engaged (else the whole country)
MIN_STATE_PEERS = 3
#: a content's response rate is cited once it was sent at least this often
MIN_CONTENT_SENDS = 10

#: What the HCP did, by outcome.
OUTCOME_VERBS = {"opened": "Opened", "clicked": "Clicked", "attended": "Attended"}
#: (one, many) practitioners of a specialty; others read "<specialty> HCP(s)".
PRACTITIONERS = {
    "Family Medicine": ("family physician", "family physicians"),
    "Internal Medicine": ("internist", "internists"),
    "General Practice": ("general practitioner", "general practitioners"),
    "Cardiology": ("cardiologist", "cardiologists"),
    "Endocrinology": ("endocrinologist", "endocrinologists"),
    "Oncology": ("oncologist", "oncologists"),
    "Pulmonology": ("pulmonologist", "pulmonologists"),
    "Infectious Disease": ("infectious-disease specialist", "infectious-disease specialists"),
    "Nephrology": ("nephrologist", "nephrologists"),
    "Gastroenterology": ("gastroenterologist", "gastroenterologists"),
    "Rheumatology": ("rheumatologist", "rheumatologists"),
    "Geriatrics": ("geriatrician", "geriatricians"),
    "Pediatrics": ("pediatrician", "pediatricians"),
    "Obstetrics & Gynecology": ("OB-GYN", "OB-GYNs"),
    "Neurology": ("neurologist", "neurologists"),
    "Psychiatry": ("psychiatrist", "psychiatrists"),
    "Dermatology": ("dermatologist", "dermatologists"),
    "Emergency Medicine": ("emergency physician", "emergency physicians"),
    "Nurse Practitioner": ("nurse practitioner", "nurse practitioners"),
    "Physician Assistant": ("physician assistant", "physician assistants"),
    "Pharmacist": ("pharmacist", "pharmacists"),
}
_STATE_NAMES = {code: name for name, code in STATE_CODES.items()}


def times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(int(n), f"{int(n)} times")


def ago(days: float) -> str:
    """"today", "yesterday", "5 days ago", "3 weeks ago", "4 months ago"."""
    days = max(0, int(days))
    if days == 0:
        return "today"
    if days == 1:
        return "yesterday"
    if days < 14:
        return f"{days} days ago"
    if days < 63:
        return f"{round(days / 7)} weeks ago"
    return f"{round(days / 30.4)} months ago"


def practitioners(specialty: str | None, count: int) -> str:
    """"1 cardiologist", "37 cardiologists", "4 Nephrology HCPs"."""
    one, many = PRACTITIONERS.get(str(specialty), (f"{specialty} HCP", f"{specialty} HCPs"))
    return f"{count:,} {one if count == 1 else many}"


@dataclass(frozen=True)
class ReasonEvidence:
    """The facts behind the words for one bundle over one data snapshot (built once per serving).

    Contents are in bundle order; HCP arrays are indexed by snapshot row.
    """

    snapshot: object                # engine.service.snapshot.DataSnapshot
    hcp_rows: np.ndarray            # bundle HCP index -> snapshot row (-1 unknown)
    content_phrases: np.ndarray     # [n_contents] the content's topic as people say it ('' unknown)
    content_topic: np.ndarray       # [n_contents] dominant topic (-1 unknown)
    history_content: np.ndarray     # history content code -> bundle content index (-1 unknown)
    peer_group: np.ndarray          # [n_rows] (specialty, state) group of each HCP
    peers_in_group: np.ndarray      # [n_groups, n_contents] HCPs of the group that engaged with it
    peer_specialty: np.ndarray      # [n_rows] specialty code of each HCP
    peers_in_specialty: np.ndarray  # [n_specialties, n_contents]
    content_sends: np.ndarray       # [n_contents] touches of each content (all HCPs, all channels)
    content_engaged: np.ndarray     # [n_contents] engaged touches of each content
    topic_phrases: dict             # topic id -> the topic as people say it

    @classmethod
    def build(cls, snapshot, content_ids, hcp_rows, content_phrases, content_topic,
              topic_phrases: dict | None = None) -> "ReasonEvidence":
        """``content_ids`` in bundle order; ``hcp_rows`` maps bundle HCP indexes to snapshot rows."""
        content_ids = np.asarray(content_ids).astype(str)
        n_contents = len(content_ids)
        position = pd.Series(np.arange(n_contents), index=content_ids)
        # engaged (HCP row, content row) pairs -> bundle content index
        content_rows = snapshot.content_pos.reindex(content_ids).to_numpy()
        to_bundle = np.full(len(snapshot.contents), -1, dtype=np.int64)
        known = ~np.isnan(content_rows)
        to_bundle[content_rows[known].astype(np.int64)] = np.flatnonzero(known)
        pair_content = to_bundle[snapshot.consumed_content]
        pair_hcp = snapshot.consumed_hcp[pair_content >= 0]
        pair_content = pair_content[pair_content >= 0]

        hcps = snapshot.hcps

        def text(column: str) -> pd.Series:
            values = hcps[column] if column in hcps else pd.Series("", index=hcps.index)
            return values.astype(object).where(values.notna(), "").astype(str)

        specialty, state = text("specialty"), text("state")
        peer_specialty, _ = pd.factorize(specialty)
        peer_group, _ = pd.factorize(specialty + "\t" + state)

        def counts(group: np.ndarray) -> np.ndarray:
            n_groups = int(group.max()) + 1 if len(group) else 0
            flat = np.bincount(group[pair_hcp] * n_contents + pair_content, minlength=n_groups * n_contents)
            return flat.reshape(n_groups, n_contents)

        history = snapshot.history
        if history is not None and len(history.content_values):
            history_content = position.reindex(np.asarray(history.content_values).astype(str)).fillna(-1) \
                .to_numpy().astype(np.int64)
            codes = history_content[history.content]
            ok = codes >= 0
            sends = np.bincount(codes[ok], minlength=n_contents)
            engaged = np.bincount(codes[ok & history.engaged], minlength=n_contents)
        else:
            history_content = np.zeros(0, dtype=np.int64)
            sends = engaged = np.zeros(n_contents, dtype=np.int64)
        return cls(snapshot=snapshot, hcp_rows=np.asarray(hcp_rows, dtype=np.int64),
                   content_phrases=np.asarray(content_phrases, dtype=object),
                   content_topic=np.asarray(content_topic, dtype=np.int64), history_content=history_content,
                   peer_group=peer_group.astype(np.int64), peers_in_group=counts(peer_group.astype(np.int64)),
                   peer_specialty=peer_specialty.astype(np.int64),
                   peers_in_specialty=counts(peer_specialty.astype(np.int64)),
                   content_sends=sends, content_engaged=engaged, topic_phrases=dict(topic_phrases or {}))


class _HcpFacts:
    """One HCP's facts, read lazily while writing its rows' reasons (one request, one HCP)."""

    def __init__(self, evidence: ReasonEvidence, hcp_idx: int):
        self.evidence = evidence
        self.row = int(evidence.hcp_rows[hcp_idx]) if 0 <= hcp_idx < len(evidence.hcp_rows) else -1
        self._engaged_touches = None

    @cached_property
    def profile(self):  # read once per request: a row of the HCP table costs ~0.1 ms
        return None if self.row < 0 else self.evidence.snapshot.hcps.iloc[self.row]

    def engaged_touches(self) -> list[tuple[int, int, str, float]]:
        """(bundle content index, channel index, outcome, days ago) of every engaged touch, newest first."""
        if self._engaged_touches is None:
            snapshot, out = self.evidence.snapshot, []
            history = snapshot.history
            if self.row >= 0 and history is not None and len(self.evidence.history_content):
                at = history.positions(self.row)
                now = np.datetime64(pd.Timestamp(snapshot.now).to_datetime64(), "us")
                channel_index = {c: k for k, c in enumerate(CHANNELS)}
                for content, channel, outcome, engaged, stamp in zip(
                        history.content[at], history.channel[at], history.outcome[at], history.engaged[at],
                        history.timestamp[at]):
                    if engaged and content >= 0:
                        days = (now - stamp) / np.timedelta64(1, "D")
                        out.append((int(self.evidence.history_content[content]),
                                    channel_index.get(str(history.channel_values[channel]), -1),
                                    str(history.outcome_values[outcome]) if outcome >= 0 else "", float(days)))
            self._engaged_touches = out
        return self._engaged_touches


class ReasonWriter:
    """Words for factor contributions of one bundle over one data snapshot (see module docstring)."""

    def __init__(self, evidence: ReasonEvidence):
        self.evidence = evidence

    def reasons(self, hcp_idx: int, items: np.ndarray, channels: np.ndarray, factors: dict) -> list[list[str]]:
        """Reasons for each of ``items`` (content indices) recommended through ``channels`` (channel indices).

        The factors with a positive contribution are cited, at most :data:`MAX_REASONS`, the one
        furthest above the other listed rows' mean first (with a single row: the largest first).
        """
        items = np.asarray(items, dtype=np.int64)
        if not len(items):
            return []
        names = list(factors)
        if not names:
            return [[] for _ in items]
        contributions = np.stack([np.asarray(factors[name], dtype=np.float64)[items] for name in names], axis=1)
        distinct = contributions - contributions.mean(axis=0) if len(items) > 1 else contributions
        facts = _HcpFacts(self.evidence, int(hcp_idx))
        out = []
        for row, (item, channel) in enumerate(zip(items.tolist(), np.asarray(channels).tolist())):
            positive = [k for k in range(len(names)) if contributions[row, k] > 0]
            chosen = sorted(positive, key=lambda k: (-distinct[row, k], -contributions[row, k]))[:MAX_REASONS] \
                or [int(np.argmax(contributions[row]))]
            out.append([self.sentence(names[k], item, int(channel), facts) for k in chosen])
        return out

    # -- one sentence per factor -------------------------------------------------------------------
    def sentence(self, name: str, item: int, channel: int, facts: _HcpFacts) -> str:
        writer = {"topic match": self._topic, "peers": self._peers, "recent sequence": self._recent,
                  "channel affinity": self._channel, "content appeal": self._appeal}.get(name)
        return writer(item, channel, facts) if writer else f"{name[:1].upper()}{name[1:]}"

    def _phrase(self, item: int) -> str:
        phrases = self.evidence.content_phrases
        return str(phrases[item]) if 0 <= item < len(phrases) and phrases[item] else ""

    def _topic(self, item: int, channel: int, facts: _HcpFacts) -> str:
        phrase = self._phrase(item) or "this topic"
        topic = self.evidence.content_topic[item]
        same = [t for t in facts.engaged_touches() if topic >= 0 and self.evidence.content_topic[t[0]] == topic]
        if same:
            return f"About {phrase}: they engaged with this topic {times(len(same))}, last {ago(same[0][3])}"
        return f"About {phrase}, close to the topics they engage with"

    def _peers(self, item: int, channel: int, facts: _HcpFacts) -> str:
        profile, evidence = facts.profile, self.evidence
        if profile is None:
            return "HCPs with similar interests engaged with it"
        specialty = profile["specialty"]
        in_state = int(evidence.peers_in_group[evidence.peer_group[facts.row], item])
        state = _STATE_NAMES.get(str(profile.get("state") or "").upper(), profile.get("state"))
        if in_state >= MIN_STATE_PEERS and state:
            return f"{practitioners(specialty, in_state)} in {state} engaged with it"
        nationwide = int(evidence.peers_in_specialty[evidence.peer_specialty[facts.row], item])
        if nationwide:
            return f"{practitioners(specialty, nationwide)} engaged with it"
        return "HCPs with similar interests engaged with content like it"

    def _recent(self, item: int, channel: int, facts: _HcpFacts) -> str:
        touches = facts.engaged_touches()
        wanted = CHANNEL_TABLE[CHANNELS[channel]].nouns[0]
        if not touches:
            return f"Their recent touches point to {wanted} next"
        content, used, outcome, days = touches[0]
        noun = CHANNEL_TABLE[CHANNELS[used]].nouns[0] if 0 <= used < len(CHANNELS) else "a touch"
        about = self._phrase(content)
        last = f"{OUTCOME_VERBS.get(outcome, 'Engaged with')} {noun}{f' on {about}' if about else ''} {ago(days)}"
        return last if used == channel else f"{last}; {wanted} is the likely next step"

    def _channel(self, item: int, channel: int, facts: _HcpFacts) -> str:
        snapshot = self.evidence.snapshot
        one, many = CHANNEL_TABLE[CHANNELS[channel]].nouns
        if facts.row >= 0:
            sent, engaged = int(snapshot.touches[facts.row, channel]), int(snapshot.engaged[facts.row, channel])
            if sent > 1 and engaged:
                return f"Engaged with {engaged} of the {sent} {many} sent to them"
            if sent == 1 and engaged:
                return f"Engaged with the only {one.split(' ', 1)[1]} sent to them"
        return f"{channel_label(CHANNELS[channel])} suits HCPs like them"

    def _appeal(self, item: int, channel: int, facts: _HcpFacts) -> str:
        sends, engaged = int(self.evidence.content_sends[item]), int(self.evidence.content_engaged[item])
        if sends >= MIN_CONTENT_SENDS:
            return f"Well received: {engaged / sends:.0%} of its {sends:,} sends got a response"
        return "Well received by HCPs so far"
