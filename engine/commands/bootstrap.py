"""``python -m engine bootstrap``: make sure a servable bundle exists (what ``make run`` calls).

Generates the demo world when the store is empty and trains when no bundle is current; does
nothing when both exist, so a second ``make run`` starts serving at once. The demo world's
content is the seed PubMed abstracts when ``SEED_DIR`` has them (real titles, abstracts and PMIDs,
so every content links to its PubMed record), else generated content.
"""
from __future__ import annotations

from engine.bundles import current_version
from engine.data.store import Store

HELP = "build the demo world and train the models when no bundle exists (used by `make run`)"
#: The seed abstracts under ``SEED_DIR`` the demo world's content comes from.
SEED_ABSTRACTS = "pubmed_abstracts_2020_2025.csv"


def add_arguments(parser) -> None:
    parser.add_argument("--hcps", type=int, default=40_000, help="HCPs in the demo world (default 40000)")
    parser.add_argument("--months", type=int, default=18, help="simulated months (default 18)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--force", action="store_true", help="regenerate and retrain even when a bundle exists")


def run(args, settings, progress) -> int:
    from engine.cli import build_parser  # the sub-commands do the work; bootstrap only sequences them

    parser = build_parser()
    quiet = ["--quiet"] if args.quiet else []
    version = current_version(settings.artifacts_dir)
    if version and not args.force:
        progress("bootstrap", f"bundle {version} is current in {settings.artifacts_dir}: nothing to build")
        return 0
    steps = []
    if args.force or Store(settings.database_url).count("interactions") == 0:
        generate = ["generate", "--hcps", str(args.hcps), "--months", str(args.months), "--seed", str(args.seed)]
        abstracts = settings.seed_dir / SEED_ABSTRACTS
        if abstracts.is_file():
            progress("bootstrap", f"content: the seed abstracts in {abstracts} (with their PMIDs)")
            generate += ["--abstracts", str(abstracts)]
        steps.append(generate)
    steps.append(["train"])
    for argv in steps:
        progress("bootstrap", f"python -m engine {' '.join(argv)}")
        sub = parser.parse_args(argv + quiet)
        status = sub._module.run(sub, settings, progress)
        if status:
            return status
    return 0
