"""`hotline route`: suggest a line for a text, a JSONL file, or score a labelled file."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from services.routing.classifier import DEFAULT_MODEL_PATH
from services.routing.dataset import HELDOUT_PATH, TRAIN_PATH, read_examples
from services.routing.model import CallContext

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "route", help="suggest which line should take a call (issue 5)",
        description="Suggest which line should take a call, from seed 001's diversion list, "
                    "a classifier trained on the project's labelled set, and call context.")
    parser.add_argument("text", nargs="?", help="the agent's summary of the call")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--jsonl", type=Path, metavar="FILE",
                      help='read {"id","text"} lines, write one result per line')
    mode.add_argument("--eval", type=Path, nargs="?", const=HELDOUT_PATH, metavar="FILE",
                      help="score a labelled JSONL file (default: the held-out split)")
    mode.add_argument("--build-model", action="store_true",
                      help="rebuild the model artifact from the training split")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_PATH,
                        help="model artifact (default: %(default)s)")
    parser.add_argument("--out", type=Path, help="with --jsonl: write here instead of stdout")
    parser.add_argument("--json", action="store_true", help="with --eval: print JSON")
    parser.add_argument("--site", choices=["12345", "110"], help="site that took the call")
    parser.add_argument("--ivr", help="the caller's IVR choice, e.g. police, power")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.build_model:
        return _build(args.model)
    if args.jsonl is None and args.eval is None and args.text is None:
        print("hotline route: give a text, --jsonl FILE, --eval [FILE] or --build-model",
              file=sys.stderr)
        return 2
    from services.routing.suggester import Suggester

    suggester = Suggester.load(args.model)
    if args.eval is not None:
        return _evaluate(suggester, args.eval, args.json)
    context = _context(args)
    if args.jsonl is not None:
        return _route_jsonl(suggester, args.jsonl, args.out, context)
    print(json.dumps(suggester.suggest(args.text, context).to_dict(), ensure_ascii=False))
    return 0


def _context(args: argparse.Namespace) -> CallContext | None:
    if args.site is None and args.ivr is None:
        return None
    return CallContext(site=args.site or "12345", ivr_choice=args.ivr)


def _route_jsonl(suggester: Any, path: Path, out: Path | None,
                 context: CallContext | None) -> int:
    lines = []
    for example in read_examples(path):
        result = {"id": example.id, **suggester.suggest(example.text, context).to_dict()}
        lines.append(json.dumps(result, ensure_ascii=False))
    text = "\n".join(lines) + ("\n" if lines else "")
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
    return 0


def _evaluate(suggester: Any, path: Path, as_json: bool) -> int:
    from services.routing.evaluation import evaluate, format_report

    report = evaluate(suggester, read_examples(path))
    if as_json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=1))
    else:
        print(format_report(report, str(path)))
    return 0


def _build(out: Path) -> int:
    from services.routing.diversion_list import load_diversion_list
    from services.routing.suggester import build_processor
    from services.routing.training import build_model_file

    diversion_list = load_diversion_list()
    artifact = build_model_file(TRAIN_PATH, diversion_list, build_processor(diversion_list), out)
    print(f"wrote {out}: {len(artifact['features'])} features, "
          f"{artifact['meta']['examples']} examples, train sha256 "
          f"{artifact['meta']['train_sha256'][:12]}")
    return 0
