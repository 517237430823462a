import json

from telephony.cli import main


def test_hotline_kb_import_then_export_gives_the_same_records_back(tmp_path, capsys):
    url = f"sqlite+aiosqlite:///{tmp_path / 'kb.db'}"
    source = tmp_path / "in.jsonl"
    records = [{"entry_id": f"kb-{n}", "topic": f"T{n}", "question": f"问题{n}",
                "alternatives": [f"说法{n}"], "answer": f"答案{n}，请拨打12345。",
                "department": "housing", "region_code": "410300", "category": "housing",
                "valid_from": None, "valid_until": None,
                "review_at": "2027-06-30T00:00:00+00:00", "status": status}
               for n, status in enumerate(["published", "draft", "retired"])]
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                      encoding="utf-8")
    assert main(["kb", "import", str(source), "--db", url]) == 0
    assert json.loads(capsys.readouterr().out)["created"] == 3
    out = tmp_path / "out.jsonl"
    assert main(["kb", "export", str(out), "--db", url]) == 0
    back = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert back == records


def test_a_bad_file_is_refused_with_its_line(tmp_path, capsys):
    url = f"sqlite+aiosqlite:///{tmp_path / 'kb.db'}"
    source = tmp_path / "bad.jsonl"
    source.write_text('{"question": "x"}\n', encoding="utf-8")
    assert main(["kb", "import", str(source), "--db", url]) == 1
    assert "record 1" in capsys.readouterr().err
