"""The shipped catalogue, its JSON lines form, and the CLI that moves it."""
import io
import json
from pathlib import Path

import pytest

from services.dispatch import cli
from services.dispatch.catalogue import (
    DEPARTMENTS_PATH,
    Catalogue,
    CatalogueError,
    item_from,
    load_shipped,
    parse_records,
    read_records,
    region_covers,
    write_records,
)
from services.work_orders.db import upgrade

FIXTURES = Path(__file__).parent / "fixtures"


def test_the_shipped_catalogue_keeps_the_lab_department_list_and_five_items_each():
    catalogue = load_shipped()
    listed = json.loads(DEPARTMENTS_PATH.read_text(encoding="utf-8"))
    assert [(d["id"], d["name"]) for d in listed] == [
        (d.id, d.name) for d in catalogue.departments.values()]
    for department in catalogue.departments:
        items = catalogue.items_of(department)
        assert len(items) >= 5, department
        assert all(len(item.keywords) >= 3 for item in items)


def test_export_then_import_gives_the_same_catalogue():
    catalogue = load_shipped()
    out = io.StringIO()
    assert write_records(catalogue, out) == len(catalogue.departments) + len(catalogue.items)
    departments, items = parse_records(read_records(io.StringIO(out.getvalue())))
    again = Catalogue({d.id: d for d in departments}, tuple(items))
    assert again == catalogue


@pytest.mark.parametrize(("line", "words"), [
    ('{"kind": "item", "item_id": "x", "department": "housing"}', "item_id"),
    (('{"item_id": "housing.99", "department": "Housing!", "title": "t", "regions": ["410300"],'
     ' "keywords": ["a"]}'), "department"),
    (('{"item_id": "housing.99", "department": "housing", "title": "t", "regions": ["41"],'
     ' "keywords": ["a"]}'), "regions"),
    (('{"item_id": "housing.99", "department": "housing", "title": "t", "regions": ["410300"],'
     ' "keywords": []}'), "keyword"),
    ('{"kind": "thing"}', "kind"),
    ("[1, 2]", "object"),
    ("{not json", "not JSON"),
])
def test_bad_records_are_refused_naming_the_line_and_field(line, words):
    with pytest.raises(CatalogueError) as caught:
        parse_records(read_records(io.StringIO("\n" + line + "\n")))
    assert "line 2" in str(caught.value) and words in str(caught.value)


def test_an_item_of_an_unknown_department_is_refused():
    item = item_from({"item_id": "nobody.01", "department": "nobody", "title": "t",
                      "regions": ["410300"], "keywords": ["k"]})
    with pytest.raises(CatalogueError):
        Catalogue(load_shipped().departments, (item,))


def test_region_codes_cover_their_districts_only():
    assert region_covers("410300", "410302") and region_covers("410300", "410300")
    assert not region_covers("410300", "410100")
    assert region_covers("410000", "410100")
    assert region_covers("410302", "410302") and not region_covers("410302", "410303")


def _run(*argv: str) -> int:
    import argparse

    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["dispatch", *argv])
    return int(args.func(args))


def test_cli_imports_and_exports_the_catalogue(tmp_path, capsys):
    url = f"sqlite+aiosqlite:///{tmp_path / 'orders.db'}"
    upgrade(url)
    shipped = tmp_path / "shipped.jsonl"
    with shipped.open("w", encoding="utf-8") as stream:
        write_records(load_shipped(), stream)
    assert _run("import", str(shipped), "--db", url) == 0
    counts = json.loads(capsys.readouterr().out)
    assert counts["departments"] == 24 and counts["items"] == len(load_shipped().items)
    assert _run("import", str(shipped), "--db", url) == 0    # again: nothing new
    assert json.loads(capsys.readouterr().out)["items"] == 0
    out = tmp_path / "out.jsonl"
    assert _run("export", str(out), "--db", url) == 0
    def lines(path):
        return sorted(path.read_text(encoding="utf-8").splitlines())

    assert lines(out) == lines(shipped)


def test_cli_refuses_an_unmigrated_database_and_a_bad_file(tmp_path, capsys):
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    assert _run("export", "-", "--db", url) == cli.EXIT_NOT_MIGRATED
    upgrade(url)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind": "item"}\n', encoding="utf-8")
    assert _run("import", str(bad), "--db", url) == cli.EXIT_ERROR
    assert "line 1" in capsys.readouterr().err


def test_cli_eval_prints_top1_top3_and_confusions(capsys):
    assert _run("eval", str(FIXTURES / "examples.jsonl"), "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["examples"] == 10
    assert 0 <= result["top1"] <= result["top3"] <= 1
    assert sum(row["examples"] for row in result["departments"]) == 10
    assert _run("eval", str(FIXTURES / "examples.jsonl")) == 0
    text = capsys.readouterr().out
    assert "top-1 accuracy" in text and "top-3 accuracy" in text
