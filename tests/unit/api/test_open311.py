"""Open311 GeoReport v2 as an integrator sees it: a client written from the specification
(tests/support/georeport.py) creates, lists and fetches requests on a live server."""
from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from services.api.open311_keys import (
    KeysError,
    hash_key,
    keys_from_mapping,
    load_open311_keys,
    main,
)
from services.work_orders.categories import DEFAULT_CATEGORIES
from services.work_orders.search import OrderQuery, search_orders
from tests.support.georeport import GeoReportClient, GeoReportError
from tests.unit.api.conftest import CITIZEN, OPEN311_KEY, mount, open_order

ENDPOINT = "/open311/v2"


@pytest.fixture
async def server(deps) -> AsyncIterator[TestServer]:
    async with TestServer(mount(deps)) as test_server:
        yield test_server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
def georeport(server, session) -> GeoReportClient:
    return GeoReportClient(session, str(server.make_url(ENDPOINT)), OPEN311_KEY)


async def test_services_are_the_order_categories(georeport):
    services = await georeport.get_service_list()
    assert [s["service_code"] for s in services] == [c.code for c in DEFAULT_CATEGORIES]
    assert all(s["type"] == "realtime" and s["metadata"] is False for s in services)


async def test_a_posted_request_becomes_an_online_order_and_reads_back(georeport, orders):
    (created,) = await georeport.post_service_request(
        "environment", "夜间工地施工噪音扰民", lat=34.6197, long=112.4540,
        address_string="洛阳市涧西区长安路 12 号", phone="139-0013-9000", first_name="张")
    request_id = created["service_request_id"]
    assert created["service_notice"] == "response level 7d"
    (fetched,) = await georeport.get_service_request(request_id)
    assert fetched["service_request_id"] == request_id
    assert (fetched["status"], fetched["service_code"]) == ("open", "environment")
    assert fetched["description"] == "夜间工地施工噪音扰民"
    assert (fetched["lat"], fetched["long"]) == (34.6197, 112.4540)
    assert fetched["address"] == "洛阳市涧西区长安路 12 号"
    assert "13900139000" not in repr(fetched)           # no citizen data goes out
    record = await orders.record(request_id)
    assert (record["channel"], record["platform"], record["citizen_number"]) == (
        "online", "12345", "13900139000")
    listed = await georeport.get_service_requests()
    assert request_id in [r["service_request_id"] for r in listed]


async def test_requests_filter_as_the_specification_says(georeport, orders, clock):
    first = await open_order(orders, category="water")
    clock.advance(hours=1)
    second = await open_order(orders, category="housing")
    await orders.transition(second, "rejected", "t")
    clock.advance(hours=1)
    ids = lambda found: [r["service_request_id"] for r in found]
    assert ids(await georeport.get_service_requests(service_code="water")) == [first]
    assert ids(await georeport.get_service_requests(
        service_code=["water", "housing"])) == [second, first]
    assert ids(await georeport.get_service_requests(status="closed")) == [second]
    assert ids(await georeport.get_service_requests(status="open")) == [first]
    middle = (clock.now - timedelta(minutes=90)).isoformat().replace("+00:00", "Z")
    assert ids(await georeport.get_service_requests(start_date=middle)) == [second]
    assert ids(await georeport.get_service_requests(end_date=middle)) == [first]
    assert ids(await georeport.get_service_requests(
        service_request_id=[first, second], status="open")) == [second, first]


async def test_requests_default_to_the_last_90_days(georeport, orders, clock):
    old = await open_order(orders)
    clock.advance(days=91)
    new = await open_order(orders)
    assert [r["service_request_id"] for r in await georeport.get_service_requests()] == [new]
    (fetched,) = await georeport.get_service_request(old)     # by id: no window
    assert fetched["service_request_id"] == old


@pytest.mark.parametrize(("fields", "words"), [
    ({"service_code": "unicorns"}, "service_code"),
    ({"description": ""}, "description"),
    ({"lat": 91.0, "long": 1.0}, "lat"),
    ({"address_string": None}, "location"),
    ({"phone": "call me"}, "phone"),
    ({"description": "x" * 4001}, "description"),
])
async def test_bad_posts_get_the_specifications_errors_and_open_nothing(georeport, orders,
                                                                        fields, words):
    form = {"service_code": "water", "description": "停水了", "address_string": "某路 1 号",
            **fields}
    code, description = form.pop("service_code"), form.pop("description")
    with pytest.raises(GeoReportError) as refused:
        await georeport.post_service_request(code, description, **form)
    assert refused.value.status == 400
    (error,) = refused.value.errors
    assert error["code"] == 400 and words in error["description"]
    _, total = await search_orders(orders, OrderQuery())
    assert total == 0


async def test_a_wrong_or_missing_key_is_refused_with_403(server, session, orders):
    for key in ("wrong", ""):
        bad = GeoReportClient(session, str(server.make_url(ENDPOINT)), key)
        for call in (bad.get_service_list(), bad.get_service_requests(),
                     bad.post_service_request("water", "停水了", address_string="某路")):
            with pytest.raises(GeoReportError) as refused:
                await call
            assert refused.value.status == 403
            assert refused.value.errors[0]["code"] == 403
    _, total = await search_orders(orders, OrderQuery())
    assert total == 0


async def test_an_unknown_request_is_404_and_bad_filters_400(georeport):
    with pytest.raises(GeoReportError) as refused:
        await georeport.get_service_request("WO-20261123-000000000000")
    assert refused.value.status == 404
    for bad in ({"status": "lost"}, {"start_date": "yesterday"},
                {"service_request_id": "1;drop"}, {"start_date": "2026-11-23T00:00:00"}):
        with pytest.raises(GeoReportError) as refused:
            await georeport.get_service_requests(**bad)
        assert refused.value.status == 400, bad


async def test_the_history_holds_the_online_order_for_this_citizen_only(georeport, orders):
    (created,) = await georeport.post_service_request("water", "停水", address_string="某路",
                                                      phone=CITIZEN)
    items, _ = await search_orders(orders, OrderQuery(number=CITIZEN))
    assert [i["order_id"] for i in items] == [created["service_request_id"]]


# ---- keys -------------------------------------------------------------------------------------
def test_keys_are_stored_hashed_and_clear_keys_only_in_the_lab(tmp_path: Path):
    entry = {"platform": "110", "region_code": "410300"}
    keys = keys_from_mapping({"crm": {**entry, "hash": hash_key("s3cret-key")}}, lab=False)
    assert keys.find("s3cret-key").platform == "110" and keys.find("other") is None
    with pytest.raises(KeysError):
        keys_from_mapping({"crm": {**entry, "key": "s3cret-key"}}, lab=False)
    with pytest.raises(KeysError):
        keys_from_mapping({"crm": {**entry, "hash": "md5:abc"}}, lab=False)


def test_no_key_outside_the_lab_unless_a_file_names_one(tmp_path: Path):
    assert len(load_open311_keys(None, lab_mode=False)) == 0
    assert len(load_open311_keys(None, lab_mode=True)) == 1       # lab/accounts.toml
    leaked = tmp_path / "keys.toml"
    leaked.write_text(f'[open311.keys.x]\nplatform = "12345"\nregion_code = "410300"\n'
                      f'hash = "{hash_key("lab-open311-key")}"\n', encoding="utf-8")
    with pytest.raises(KeysError, match="lab key"):
        load_open311_keys(str(leaked), lab_mode=False)


def test_the_cli_prints_a_key_and_an_entry_that_loads(tmp_path: Path, capsys):
    assert main(["key", "crm", "--platform", "110", "--region", "410302"]) == 0
    out, err = capsys.readouterr()
    key = err.split(": ", 1)[1].strip()
    path = tmp_path / "keys.toml"
    path.write_text(out, encoding="utf-8")
    keys = load_open311_keys(str(path), lab_mode=False)
    assert keys.find(key).region_code == "410302"
    assert key not in out


async def test_every_resource_answers_in_xml_too_as_the_specification_requires(
        server, session, georeport, orders):
    import xml.etree.ElementTree as ET

    (created,) = await georeport.post_service_request("water", "停水了", lat=34.6, long=112.4)
    base, key = str(server.make_url(ENDPOINT)), {"api_key": OPEN311_KEY}

    async def xml(path: str, **params: str) -> tuple[int, ET.Element]:
        async with session.get(f"{base}{path}", params={**key, **params}) as resp:
            assert resp.content_type == "text/xml"
            return resp.status, ET.fromstring(await resp.read())

    status, root = await xml("/services.xml")
    assert status == 200 and root.tag == "services"
    assert [s.findtext("service_code") for s in root] == [c.code for c in DEFAULT_CATEGORIES]
    status, root = await xml(f"/requests/{created['service_request_id']}.xml")
    (request,) = root.findall("request")
    assert root.tag == "service_requests"
    assert request.findtext("service_request_id") == created["service_request_id"]
    assert (request.findtext("lat"), request.findtext("long")) == ("34.6", "112.4")
    assert request.find("extended_attributes/platform").text == "12345"
    status, root = await xml("/requests.xml", status="lost")
    assert status == 400 and root.tag == "errors"
    assert root.find("error/code").text == "400"
    async with session.post(f"{base}/requests.xml", data={**key, "service_code": "water",
                                                         "description": "又停水",
                                                         "address_string": "某路"}) as resp:
        assert resp.status == 201
        assert ET.fromstring(await resp.read()).find("request/service_request_id").text
