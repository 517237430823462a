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
                      help="score a labelled JSONL file (default: the held-out split); "
                           "exits 1 when emergency recall is below 1.0")
    mode.add_argument("--build-model", action="store_true",
                      help="rebuild the model artifact from the training split")
    mode.add_argument("--add-data", type=Path, nargs="+", metavar="FILE",
                      help="append labelled files to the training split, dropping near-"
                           "paraphrases of what it holds (score a blind set before adding it)")
    mode.add_argument("--crossval", action="store_true",
                      help="leave-one-writer-out figures on the training split; fits and "
                           "writes the confidence calibration")
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
    if args.add_data:
        return _add_data(args.add_data)
    if args.crossval:
        return _crossval()
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
    if report.emergency_recall < 1.0:
        print(f"hotline route: emergency recall {report.emergency_recall:.3f} is below 1.0",
              file=sys.stderr)
        return 1
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


def _add_data(paths: list[Path]) -> int:
    from services.routing.dataset import example_line, near_paraphrases

    existing = read_examples(TRAIN_PATH)
    known = {e.id for e in existing}
    lines = []
    for path in paths:
        new = read_examples(path)
        clash = sorted(known & {e.id for e in new})
        if clash:
            print(f"hotline route: {path}: ids already in the training split: {clash[:5]}",
                  file=sys.stderr)
            return 2
        dropped = {e.id for e in near_paraphrases(existing, new)}
        kept = [e for e in new if e.id not in dropped]
        existing += kept
        known |= {e.id for e in kept}
        lines += [example_line(e) for e in kept]
        print(f"{path}: {len(kept)} added, {len(dropped)} near-paraphrases dropped")
    with TRAIN_PATH.open("a", encoding="utf-8") as out:
        out.write("".join(line + "\n" for line in lines))
    print(f"{TRAIN_PATH}: {len(existing)} examples; now run --build-model and --crossval")
    return 0


def _crossval() -> int:
    from services.routing.crossval import (
        CALIBRATION_PATH,
        calibrate,
        fit_calibration,
        out_of_writer_outcomes,
        write_calibration,
    )
    from services.routing.diversion_list import load_diversion_list
    from services.routing.evaluation import expected_calibration_error
    from services.routing.model import is_emergency_line
    from services.routing.suggester import build_processor

    diversion_list = load_diversion_list()
    examples = read_examples(TRAIN_PATH)
    outcomes = out_of_writer_outcomes(examples, diversion_list, build_processor(diversion_list))
    right = [o.example.accepts(o.target) for o in outcomes]
    pairs = [(o.raw_confidence, r) for o, r in zip(outcomes, right)]
    calibration = fit_calibration(outcomes)
    gold_emergencies = [o for o in outcomes if o.example.emergency]
    missed = [o for o in gold_emergencies if not o.emergency]
    figures = {
        "examples": len(outcomes),
        "accuracy": round(sum(right) / len(right), 4),
        "emergency_recall": round(1 - len(missed) / max(1, len(gold_emergencies)), 4),
        "emergencies_sent_away": sum(not is_emergency_line(o.target) for o in gold_emergencies),
        "ece_raw": round(expected_calibration_error(pairs), 4),
        "ece_calibrated": round(expected_calibration_error(
            [(calibrate(o.raw_confidence, calibration, o.basis), r)
             for o, r in zip(outcomes, right)]), 4),
    }
    write_calibration(CALIBRATION_PATH, TRAIN_PATH, calibration, figures)
    print(json.dumps(figures, ensure_ascii=False))
    for o in missed:
        print(f"missed emergency {o.example.id} (p_emergency {o.emergency_prob:.2f}, "
              f"got {o.target}): {o.example.text}")
    return 0
