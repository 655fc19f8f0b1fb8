"""The ``srgan`` command line."""
from __future__ import annotations

import argparse
import logging
import sys


def _cmd_train(args: argparse.Namespace) -> int:
    from .train import Trainer, load_config

    cfg = load_config(args.config, args.set)
    trainer = Trainer(cfg, resume=args.resume)
    trainer.fit(progress=not args.no_progress)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="srgan", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a model from a YAML config")
    t.add_argument("--config", required=True)
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key, e.g. --set optim.lr=1e-4")
    t.add_argument("--resume", action="store_true")
    t.add_argument("--no-progress", action="store_true")
    t.set_defaults(func=_cmd_train)
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
