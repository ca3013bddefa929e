"""The `wdsr` command: models, train, eval, upscale, data, reproduce."""
from __future__ import annotations

import argparse
import json
import sys


def _cmd_models(args: argparse.Namespace) -> int:
    from .report_models import format_table, model_table

    rows = [r for s in args.scales for r in model_table(s)]
    print(json.dumps(rows, indent=2) if args.json else format_table(rows))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wdsr", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("models", help="every preset with parameters and MACs for a 1280x720 output")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--scales", type=int, nargs="+", default=[2], choices=[2, 3, 4])
    p.set_defaults(func=_cmd_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, PermissionError, OSError, RuntimeError) as exc:
        if args.debug:
            raise
        print(f"wdsr {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
