import argparse
import json

import pytest

from services.routing import cli

KEYS = {"target", "category", "emergency", "confidence", "uncertain", "propose_three_way",
        "reasons", "alternatives", "linked_order_id"}


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="hotline")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["route", *argv])
    return args.func(args)


def test_route_prints_one_json_object_with_the_issue_5_keys(capsys):
    assert _run("家里着火了") == 0

    result = json.loads(capsys.readouterr().out)
    assert KEYS <= set(result)
    assert (result["target"], result["emergency"]) == ("119", True)
    assert result["reasons"] and {"kind", "ref", "text"} <= set(result["reasons"][0])
    assert all({"target", "category", "confidence"} <= set(a) for a in result["alternatives"])


def test_route_jsonl_writes_one_result_per_input_line_with_its_id(tmp_path, capsys):
    source = tmp_path / "calls.jsonl"
    source.write_text('{"id": "a1", "text": "停电了"}\n{"id": "a2", "text": "路灯坏了"}\n',
                      encoding="utf-8")

    assert _run("--jsonl", str(source)) == 0

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["id"], r["target"]) for r in lines] == [("a1", "power"), ("a2", "12345")]
    assert all(KEYS <= set(r) for r in lines)


def test_route_jsonl_can_write_to_a_file(tmp_path):
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text('{"id": "x", "text": "钥匙丢了进不了门"}\n', encoding="utf-8")

    assert _run("--jsonl", str(source), "--out", str(out)) == 0

    assert json.loads(out.read_text(encoding="utf-8"))["target"] == "locksmith"


def test_route_eval_json_reports_the_figures(tmp_path, capsys):
    source = tmp_path / "gold.jsonl"
    source.write_text(
        '{"id": "g1", "text": "家里着火了", "target": "119", "category": null, "emergency": true}\n'
        '{"id": "g2", "text": "停电了", "target": "power", "category": null, "emergency": false}\n',
        encoding="utf-8")

    assert _run("--eval", str(source), "--json") == 0

    report = json.loads(capsys.readouterr().out)
    assert report["accuracy"] == 1.0 and report["emergency_recall"] == 1.0
    assert {"macro_f1", "confusion", "latency_ms", "per_target"} <= set(report)


def test_route_with_nothing_to_do_is_a_usage_error(capsys):
    assert _run() == 2


def test_route_takes_ivr_and_site_as_context(capsys):
    assert _run("", "--ivr", "power", "--site", "12345") == 0

    assert json.loads(capsys.readouterr().out)["target"] == "power"


@pytest.mark.parametrize("flag", ["--eval", "--jsonl", "--build-model"])
def test_route_modes_exclude_each_other(flag, tmp_path):
    with pytest.raises(SystemExit):
        _run(flag, str(tmp_path), "--build-model" if flag != "--build-model" else "--eval")
