"""``python -m engine <command>``: every command lives in ``engine/commands/<name>.py``.

A command module defines ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args, settings, progress) -> int``. Failures exit non-zero with a one-line reason.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from engine.config import Settings
from engine.progress import Progress

COMMANDS = ("generate", "ingest", "topics", "train", "evaluate", "score", "bundles", "bootstrap")


class CommandError(Exception):
    """Raised by a command for a failure the user can fix; printed as one line."""


def _load(name: str):
    return importlib.import_module(f"engine.commands.{name}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine", description="HCP Next Best Action engine")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for name in COMMANDS:
        module = _load(name)
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
        cmd.add_argument("--quiet", action="store_true", help="no progress output")
        module.add_arguments(cmd)
        cmd.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    settings = Settings.from_env()
    progress = Progress(quiet=args.quiet)
    try:
        return int(args._module.run(args, settings, progress) or 0)
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
