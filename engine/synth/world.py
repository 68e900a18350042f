"""Generate a synthetic HCP world with ground truth: population, content, campaigns, history.

:func:`generate_world` is deterministic for a seed (one ``numpy.random.Generator``). The
simulation advances week by week, vectorised over all HCPs touched that week, and scores every
touch with :func:`engine.synth.oracle.engagement_logit`, the same function the :class:`Oracle`
evaluates later.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from engine.config import CHANNELS
from engine.data.ingest import read_pubmed_csv
from engine.progress import QUIET, Progress
from engine.synth import population as pop
from engine.synth.channels import per_channel, simulated
from engine.synth.content import AREAS, SUBTOPIC_AREA, SUBTOPIC_NAMES, SUBTOPICS, assign_subtopics, generate_catalogue
from engine.synth.oracle import Effects, EventLog, Hidden, Oracle, engagement_logit
from engine.synth.policy import BrandPolicy, area_mix, target_specialty_for_area

N_THEMES = len(SUBTOPICS)
N_CHANNELS = len(CHANNELS)

#: Channel archetypes of HCPs and their shares (each channel's offsets: :mod:`engine.synth.channels`).
ARCHETYPE_SHARES = {"digital-first": 0.35, "field-first": 0.30, "event-goer": 0.15, "balanced": 0.20}


@dataclass(frozen=True)
class WorldConfig:
    """What to generate.

    Parameters
    ----------
    n_hcps : HCPs to generate (or to sample from ``hcp_master``; ``None`` = all of the master).
    months : length of the simulated period.
    seed : the world is a pure function of the config.
    hcp_master : optional real HCP master CSV (seed layout) instead of generated HCPs.
    abstracts : optional real PubMed CSV (``PMID, Title, Abstract, Topic``) instead of generated content.
    patients : optional seed patients CSV (``patients_with_hcp.csv`` layout) linked by ``hcp_id``.
    start : first day of the simulated period.
    n_contents : generated content items (ignored when ``abstracts`` is given).
    patients_per_hcp : generated patients per HCP on average.
    """

    n_hcps: int | None = 40_000
    months: int = 18
    seed: int = 7
    hcp_master: str | Path | None = None
    abstracts: str | Path | None = None
    patients: str | Path | None = None
    start: str = "2024-01-01"
    n_contents: int = 500
    patients_per_hcp: float = 0.25
    policy: BrandPolicy = field(default_factory=BrandPolicy)
    effects: Effects = field(default_factory=Effects)

    def __post_init__(self):
        if self.n_hcps is not None and self.n_hcps < 1:
            raise ValueError(f"WorldConfig.n_hcps must be >= 1 (got {self.n_hcps})")
        if self.months < 1:
            raise ValueError(f"WorldConfig.months must be >= 1 (got {self.months})")
        if self.n_hcps is None and self.hcp_master is None:
            raise ValueError("WorldConfig.n_hcps=None (all HCPs) needs hcp_master")
        if self.n_contents < 12:
            raise ValueError(f"WorldConfig.n_contents must be >= 12 (got {self.n_contents})")


@dataclass
class World:
    """A generated world: store-ready frames plus the hidden truth (:attr:`oracle`)."""

    config: WorldConfig
    hcps: pd.DataFrame
    contents: pd.DataFrame
    campaigns: pd.DataFrame
    interactions: pd.DataFrame
    patients: pd.DataFrame
    start: pd.Timestamp
    end: pd.Timestamp
    oracle: Oracle
    seconds: float = 0.0

    def frames(self) -> dict[str, pd.DataFrame]:
        """The store tables, ready for ``Store.replace``."""
        return {"hcps": self.hcps, "contents": self.contents, "campaigns": self.campaigns,
                "interactions": self.interactions, "patients": self.patients}

    def summary(self) -> dict:
        """Headline figures: sizes, oracle AUC, engagement by channel and specialty, touches per HCP."""
        from sklearn.metrics import roc_auc_score

        inter = self.interactions
        engaged = inter["engaged"].to_numpy(bool)
        auc = (float(roc_auc_score(engaged, self.oracle.interaction_probability))
               if 0 < engaged.sum() < len(engaged) else float("nan"))
        by_channel = inter.groupby("channel", observed=True)["engaged"].mean()
        spec = inter[["hcp_id", "engaged"]].merge(self.hcps[["hcp_id", "specialty"]], on="hcp_id", how="left")
        by_spec = (spec.groupby("specialty")["engaged"].agg(["mean", "size"])
                   .sort_values("size", ascending=False).head(10))
        touches = inter.groupby("hcp_id").size().reindex(self.hcps["hcp_id"], fill_value=0).to_numpy()
        return {
            "hcps": len(self.hcps), "contents": len(self.contents), "campaigns": len(self.campaigns),
            "interactions": len(inter), "patients": len(self.patients),
            "oracle_auc": round(auc, 4),
            "engagement_rate": round(float(engaged.mean()) if len(engaged) else 0.0, 4),
            "engagement_by_channel": {c: round(float(by_channel.get(c, float("nan"))), 4) for c in CHANNELS},
            "channel_share": {c: round(float((inter["channel"] == c).mean()), 4) for c in CHANNELS},
            "engagement_by_specialty": {s: round(float(r["mean"]), 4) for s, r in by_spec.iterrows()},
            "touches_per_hcp": {"mean": round(float(touches.mean()), 2), "p50": float(np.percentile(touches, 50)),
                                "p90": float(np.percentile(touches, 90))},
            "period": {"start": self.start.date().isoformat(), "end": self.end.date().isoformat()},
            "seconds": round(self.seconds, 2),
        }

    def load_into(self, store, frames: dict[str, pd.DataFrame] | None = None) -> None:
        """Replace the store's tables with this world (one transaction; ``frames``: its tables as the
        caller changed them, default :meth:`frames`) and record its last day as the store's demo as-of
        day (``meta.demo_as_of``): the "today" the service reasons at by default."""
        from engine.data.store import DEMO_AS_OF

        store.replace(self.frames() if frames is None else frames)
        store.set_meta(DEMO_AS_OF, pd.Timestamp(self.interactions["timestamp"].max()).date().isoformat())

    def save_truth(self, path) -> Path:
        """Write the hidden truth to ``path/truth.npz`` + ``path/truth.json``."""
        return self.oracle.save(path)

    @staticmethod
    def load_truth(path) -> Oracle:
        return Oracle.load(path)


# ---------------------------------------------------------------------------------------------
def _content_frame(cfg: WorldConfig, rng: np.random.Generator, start: pd.Timestamp, period_days: float):
    """Contents (schema frame) and their subtopic index."""
    if cfg.abstracts is not None:
        real = _read_abstracts(Path(cfg.abstracts))
        areas = [a if a in AREAS else None for a in real["therapeutic_area"]]
        texts = (real["title"].fillna("") + " " + real["abstract"].fillna("")).tolist()
        subtopic = assign_subtopics(texts, areas, rng)
        real["therapeutic_area"] = [AREAS[SUBTOPIC_AREA[s]] for s in subtopic]
        frame = real
    else:
        items = generate_catalogue(rng, cfg.n_contents)
        subtopic = np.array([s for s, _, _ in items])
        frame = pd.DataFrame({"content_id": None, "pmid": None, "title": [t for _, t, _ in items],
                              "abstract": [a for _, _, a in items],
                              "therapeutic_area": [AREAS[SUBTOPIC_AREA[s]] for s in subtopic],
                              "publication_date": pd.NaT})
    n = len(frame)
    width = max(4, len(str(n)))
    generated_ids = pd.Series([f"C{k + 1:0{width}d}" for k in range(n)], index=frame.index)
    # real abstracts keep the ingest id (PMID<pmid>) so a later ingest of the same file matches
    frame["content_id"] = frame["content_id"].where(frame["content_id"].notna(), generated_ids)
    # publication spread over the year before the period and the period itself
    pub_day = np.floor(rng.uniform(-365, period_days - 30, size=n))
    given = pd.to_datetime(frame["publication_date"], errors="coerce")
    pub = np.where(given.notna(), ((given - start) / pd.Timedelta(days=1)).to_numpy(float, na_value=0.0), pub_day)
    approval_start = pub + rng.integers(0, 60, size=n)
    # validity of 6-30 months: a good share expires inside the period
    approval_end = approval_start + rng.integers(180, 900, size=n)
    frame["publication_date"] = start + pd.to_timedelta(pub, unit="D")
    frame["approval_start"] = start + pd.to_timedelta(approval_start, unit="D")
    frame["approval_end"] = start + pd.to_timedelta(approval_end, unit="D")
    cols = ["content_id", "pmid", "title", "abstract", "therapeutic_area", "publication_date", "approval_start",
            "approval_end"]
    return (frame[cols].reset_index(drop=True), subtopic, pub.astype(float), approval_start.astype(float),
            approval_end.astype(float))


def _read_abstracts(path: Path) -> pd.DataFrame:
    """Real abstracts via :func:`engine.data.ingest.read_pubmed_csv` (validated); rows with an empty
    abstract are dropped (nothing to learn topics from), PMIDs are unique."""
    frame, report = read_pubmed_csv(path)
    report.raise_if_errors()
    frame = frame[frame["abstract"].fillna("").astype(str).str.strip() != ""]
    frame = frame.drop_duplicates("pmid").reset_index(drop=True)
    if len(frame) < 12:
        raise ValueError(f"{path}: only {len(frame)} usable abstracts (need at least 12)")
    return frame[["content_id", "pmid", "title", "abstract", "therapeutic_area", "publication_date"]].copy()


def _hcp_frame(cfg: WorldConfig, rng: np.random.Generator) -> pd.DataFrame:
    if cfg.hcp_master is None:
        return pop.generate_hcps(rng, int(cfg.n_hcps))
    master = pop.read_master_csv(Path(cfg.hcp_master))
    return pop.sample_master(master, cfg.n_hcps, rng)


def _hidden_state(rng: np.random.Generator, hcps: pd.DataFrame, subtopic: np.ndarray, period_days: float,
                  pub, appr_start, appr_end) -> Hidden:
    n = len(hcps)
    specialties = hcps["specialty"].to_numpy()
    uniq, spec_idx = np.unique(specialties, return_inverse=True)
    # specialty prior over themes: the area's share spread over its subtopics, with a
    # per-specialty taste for particular subtopics
    n_sub = np.bincount(SUBTOPIC_AREA, minlength=len(AREAS))
    prior = np.stack([area_mix(s)[SUBTOPIC_AREA] / n_sub[SUBTOPIC_AREA] for s in uniq])
    prior = prior * rng.lognormal(0.0, 0.3, size=prior.shape)
    log_prior = np.log(prior / prior.sum(axis=1, keepdims=True))
    # peer clusters: HCPs sharing a prototype share tastes beyond their specialty (CF signal)
    n_clusters = 16
    prototypes = rng.normal(0.0, 1.0, size=(n_clusters, N_THEMES))
    cluster = rng.integers(n_clusters, size=n)
    moved = rng.random(n) < 0.3
    cluster_end = np.where(moved, rng.integers(n_clusters, size=n), cluster)
    noise = rng.normal(0.0, 0.6, size=(n, N_THEMES))
    noise_end = 0.6 * noise + 0.8 * rng.normal(0.0, 0.6, size=(n, N_THEMES))

    def softmax(z):
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    theta_start = softmax(log_prior[spec_idx] + prototypes[cluster] + noise)
    theta_end = softmax(log_prior[spec_idx] + prototypes[cluster_end] + noise_end)

    names = list(ARCHETYPE_SHARES)
    shares = np.array([ARCHETYPE_SHARES[a] for a in names])
    archetype = rng.choice(len(names), size=n, p=shares / shares.sum())
    offsets = np.array([[simulated(c).affinity.get(a, 0.0) for c in CHANNELS] for a in names])
    affinity = offsets[archetype] + rng.normal(0.0, 0.35, size=(n, N_CHANNELS))

    consent = hcps[[f"consent_{c}" for c in CHANNELS]].to_numpy(bool)
    n_items = len(subtopic)
    phi = np.full((n_items, N_THEMES), 0.05 / N_THEMES)
    same_area = SUBTOPIC_AREA[None, :] == SUBTOPIC_AREA[subtopic][:, None]
    siblings = same_area.sum(axis=1, keepdims=True) - 1
    phi += np.where(same_area, 0.15 / np.maximum(siblings, 1), 0.0)
    phi[np.arange(n_items), subtopic] = 0.8 + 0.05 / N_THEMES
    phi /= phi.sum(axis=1, keepdims=True)
    return Hidden(
        theta_start=theta_start, theta_end=theta_end,
        intercept=rng.normal(0.0, 0.55, size=n),
        affinity=affinity,
        cadence=rng.lognormal(np.log(21.0), 0.5, size=n),
        fatigue=rng.lognormal(np.log(0.18), 0.5, size=n),
        consent=consent,
        phi=phi,
        quality=rng.normal(0.0, 0.35, size=n_items),
        content_channel=rng.normal(0.0, 0.25, size=(n_items, N_CHANNELS)),
        publication_day=np.asarray(pub, float), approval_start_day=np.asarray(appr_start, float),
        approval_end_day=np.asarray(appr_end, float),
        channel_base=per_channel("base"),
        period_days=float(period_days),
        cluster_start=cluster, cluster_end=cluster_end,
    )


def _simulate(rng: np.random.Generator, hidden: Hidden, fx: Effects, policy: BrandPolicy, hcps: pd.DataFrame,
              period_days: float, progress: Progress):
    """Week-by-week touches and outcomes. Returns aligned arrays (hcp, content, channel, second, p, engaged)."""
    n = len(hcps)
    n_items = len(hidden.phi)
    segments = hcps["segment"].to_numpy()
    rate = policy.touch_rate(segments)
    channel_w = policy.channel_weights(segments, hidden.consent)
    reachable = channel_w.sum(axis=1) > 0
    area_w = policy.area_weights(hcps["specialty"].to_numpy())
    content_area = SUBTOPIC_AREA[hidden.phi.argmax(axis=1)]
    # history state per HCP, valued at its last touch (``ref``) and decayed on demand
    ref = np.full(n, -np.inf)
    load = np.zeros(n)
    momentum = np.zeros((n, N_CHANNELS))
    follow = np.zeros((n, N_THEMES))
    consumed = np.zeros((n, n_items), dtype=bool)
    out = {k: [] for k in ("hcp", "content", "channel", "second", "p", "engaged")}
    n_weeks = int(period_days // 7)
    for week in range(n_weeks):
        day0 = week * 7.0
        h, i, c = policy.week_touches(rng, day0, rate, reachable, channel_w, area_w, content_area, hidden, consumed)
        if len(h) == 0:
            continue
        # weekday, working hours: second-resolution timestamps so the oracle sees the same day
        second = (((week * 7 + rng.integers(0, 5, size=len(h))) * 24 + rng.integers(8, 18, size=len(h))) * 3600
                  + rng.integers(0, 60, size=len(h)) * 60)
        day = second / 86400.0
        dt = day - ref[h]
        decay_fatigue = np.exp(-dt / fx.tau_fatigue)
        decay_momentum = np.exp(-dt / fx.tau_momentum)
        decay_follow = np.exp(-dt / fx.tau_follow)
        f_load = load[h] * decay_fatigue
        f_momentum = momentum[h] * decay_momentum[:, None]
        f_follow = follow[h] * decay_follow[:, None]
        z = engagement_logit(hidden, fx, h, i, c, day, f_load, dt, f_momentum[np.arange(len(h)), c],
                             np.einsum("nk,nk->n", f_follow, hidden.phi[i]))
        p = 1.0 / (1.0 + np.exp(-z))
        engaged = rng.random(len(h)) < p
        # update the state to the new touch
        load[h] = f_load + 1.0
        f_momentum[np.arange(len(h)), c] += engaged
        momentum[h] = f_momentum
        follow[h] = f_follow + engaged[:, None] * hidden.phi[i]
        ref[h] = day
        consumed[h[engaged], i[engaged]] = True
        for key, value in (("hcp", h), ("content", i), ("channel", c), ("second", second), ("p", p),
                           ("engaged", engaged)):
            out[key].append(value)
        if week % 13 == 12 or week == n_weeks - 1:
            progress.bar("simulate", week + 1, n_weeks, f"{sum(len(v) for v in out['hcp']):,} touches")
    return {k: (np.concatenate(v) if v else np.zeros(0)) for k, v in out.items()}


def _outcomes(rng: np.random.Generator, channel: np.ndarray, engaged: np.ndarray, p: np.ndarray):
    """Outcome label, dwell seconds (engaged touches only) and rare conversions."""
    n = len(channel)
    is_email = channel == CHANNELS.index("email")
    clicked = is_email & engaged & (rng.random(n) < 0.3)
    outcome = np.where(~engaged, "delivered", np.where(is_email, np.where(clicked, "clicked", "opened"), "attended"))
    median = per_channel("dwell_seconds")[channel] * np.where(clicked, 4.0, 1.0)
    dwell = np.where(engaged, np.round(median * rng.lognormal(0.0, 0.5, size=n), 1), np.nan)
    converted = engaged & (rng.random(n) < 0.02 + 0.06 * p)
    return outcome.astype(object), dwell, converted


def _campaigns(contents: pd.DataFrame, content_idx: np.ndarray, channel_idx: np.ndarray, when: pd.Series,
               start: pd.Timestamp, end: pd.Timestamp):
    """One campaign per (content, channel, quarter wave) that was actually run; the id per touch."""
    quarter = when.dt.year.to_numpy() * 10 + when.dt.quarter.to_numpy()
    key = pd.DataFrame({"content": content_idx, "channel": channel_idx, "quarter": quarter})
    waves = key.drop_duplicates().sort_values(["quarter", "content", "channel"]).reset_index(drop=True)
    content_ids = contents["content_id"].to_numpy()
    waves["campaign_id"] = [f"CMP-{q // 10}Q{q % 10}-{content_ids[ci]}-{simulated(CHANNELS[ch]).code}"
                            for ci, ch, q in zip(waves["content"], waves["channel"], waves["quarter"])]
    q_start = pd.to_datetime({"year": waves["quarter"] // 10, "month": (waves["quarter"] % 10 - 1) * 3 + 1, "day": 1})
    q_end = q_start + pd.offsets.QuarterEnd(0)
    appr_start = contents["approval_start"].to_numpy()[waves["content"]]
    appr_end = contents["approval_end"].to_numpy()[waves["content"]]
    areas = contents["therapeutic_area"].to_numpy()[waves["content"]]
    frame = pd.DataFrame({
        "campaign_id": waves["campaign_id"],
        "channel": np.array(CHANNELS, dtype=object)[waves["channel"]],
        "content_id": content_ids[waves["content"]],
        "start_date": np.maximum(q_start.to_numpy(), np.maximum(appr_start, start.to_datetime64())),
        "end_date": np.minimum(q_end.to_numpy(), np.minimum(appr_end, (end - pd.Timedelta(days=1)).to_datetime64())),
        "target_specialty": [target_specialty_for_area(a) for a in areas],
    })
    touch_campaign = key.merge(waves, on=["content", "channel", "quarter"], how="left")["campaign_id"].to_numpy()
    return frame, touch_campaign


def generate_world(cfg: WorldConfig | None = None, progress: Progress = QUIET) -> World:
    """Generate a world (deterministic for ``cfg``); see the module docstring."""
    cfg = cfg or WorldConfig()
    t0 = time.perf_counter()
    rng = np.random.default_rng(cfg.seed)
    start = pd.Timestamp(cfg.start).normalize()
    end = start + pd.DateOffset(months=cfg.months)
    period_days = float((end - start).days)
    if period_days < 7:
        raise ValueError("WorldConfig: the period must cover at least one week")

    hcps = _hcp_frame(cfg, rng)
    progress("hcps", f"{len(hcps):,} HCPs ({'master ' + str(cfg.hcp_master) if cfg.hcp_master else 'generated'})")
    contents, subtopic, pub, appr_start, appr_end = _content_frame(cfg, rng, start, period_days)
    progress("contents", f"{len(contents):,} items ({'real abstracts' if cfg.abstracts else 'generated'}), "
                         f"{N_THEMES} themes in {len(AREAS)} areas")
    hidden = _hidden_state(rng, hcps, subtopic, period_days, pub, appr_start, appr_end)
    progress("hidden", "interests (drifting), channel affinities, cadence, fatigue")
    sim = _simulate(rng, hidden, cfg.effects, cfg.policy, hcps, period_days, progress)

    order = np.lexsort((sim["hcp"], sim["second"]))
    sim = {k: v[order] for k, v in sim.items()}
    h, i, c = sim["hcp"].astype(np.int64), sim["content"].astype(np.int64), sim["channel"].astype(np.int64)
    engaged = sim["engaged"].astype(bool)
    when = pd.Series(start + pd.to_timedelta(sim["second"].astype(np.int64), unit="s"))
    outcome, dwell, converted = _outcomes(rng, c, engaged, sim["p"])
    campaigns, campaign_of_touch = _campaigns(contents, i, c, when, start, end)
    interactions = pd.DataFrame({
        "interaction_id": np.arange(1, len(h) + 1, dtype=np.int64),
        "hcp_id": hcps["hcp_id"].to_numpy()[h],
        "content_id": contents["content_id"].to_numpy()[i],
        "campaign_id": campaign_of_touch,
        "channel": np.array(CHANNELS, dtype=object)[c],
        "timestamp": when.to_numpy(),
        "outcome": outcome,
        "engaged": engaged,
        "dwell_seconds": dwell,
        "converted": converted,
    })
    progress("interactions", f"{len(interactions):,} touches, {engaged.mean() if len(engaged) else 0:.1%} engaged, "
                             f"{len(campaigns):,} campaigns")
    if cfg.patients is not None:
        patients = pop.read_seed_patients(Path(cfg.patients), hcps["hcp_id"])
    else:
        patients = pop.generate_patients(rng, hcps, start, cfg.patients_per_hcp)
    events = EventLog(h, i, c, sim["second"] / 86400.0, engaged, len(hcps))
    oracle = Oracle(hidden, cfg.effects, events, hcps["hcp_id"].to_numpy(), contents["content_id"].to_numpy(),
                    SUBTOPIC_NAMES, sim["p"], start)
    world = World(cfg, hcps, contents, campaigns, interactions, patients, start, pd.Timestamp(end), oracle)
    world.seconds = time.perf_counter() - t0
    progress("world", f"generated in {world.seconds:.1f}s")
    return world
