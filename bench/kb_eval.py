"""Knowledge-base retrieval on a labelled question set: P@1 and MRR (issue 20).

Run from the repository root:

    .venv/bin/python bench/kb_eval.py QUESTIONS.jsonl [--json]

Each line of QUESTIONS.jsonl is {"id", "text", "topic"}; the right answer is the lab seed's
published entry for that topic (`services/knowledge/data/seed_kb.jsonl`, one entry per
topic). Every question is searched the way the shipped code searches, over the seed's
published entries of the lab region (410300), in two ways:

- text only, as `GET /api/v1/kb/search?q=` and the surge IVR ask;
- text plus the routing suggestion's category for the same text, as the desk asks (the
  category is the suggester's, and only when it sends the text to 12345).

P@1 is the share of questions whose first hit is the right entry; MRR the mean of 1/rank
of the right entry in the first ten hits (0 when it is not there).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from services.knowledge.exchange import seed_records  # noqa: E402
from services.knowledge.search import SearchIndex  # noqa: E402
from services.routing import Suggester  # noqa: E402

REGION = "410300"
DEPTH = 10


def score(questions: list[dict], search) -> dict:
    """P@1 and MRR of `search(question) -> ranked topics` over the questions."""
    first, reciprocal, misses = 0, 0.0, []
    for q in questions:
        topics = search(q)[:DEPTH]
        rank = topics.index(q["topic"]) + 1 if q["topic"] in topics else 0
        first += rank == 1
        reciprocal += 1 / rank if rank else 0.0
        if rank != 1:
            misses.append({"id": q["id"], "topic": q["topic"], "got": topics[:3], "rank": rank})
    n = len(questions)
    return {"questions": n, "p_at_1": round(first / n, 4), "mrr": round(reciprocal / n, 4),
            "misses": misses}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("questions", type=Path)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    questions = [json.loads(line) for line in args.questions.open(encoding="utf-8")
                 if line.strip()]
    entries = [e for e in seed_records() if e["status"] == "published"]
    index = SearchIndex().build(entries)
    suggester = Suggester.load()

    def topics(q: str, category: str | None) -> list[str]:
        return [hit.entry["topic"] for hit in
                index.search(q, category=category, region=REGION, limit=DEPTH)]

    def routed_category(text: str) -> str | None:
        suggestion = suggester.suggest(text)
        return suggestion.category if suggestion.target == "12345" else None

    results = {
        "entries": len(entries),
        "text_only": score(questions, lambda q: topics(q["text"], None)),
        "with_routing_category": score(
            questions, lambda q: topics(q["text"], routed_category(q["text"]))),
    }
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=1))
    else:
        for name in ("text_only", "with_routing_category"):
            r = results[name]
            print(f"{name}: {r['questions']} questions, P@1 {r['p_at_1']:.3f}, "
                  f"MRR {r['mrr']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
