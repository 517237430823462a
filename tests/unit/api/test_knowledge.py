"""Knowledge-base endpoints: role checks, the status flow through the API, search, uses."""

from __future__ import annotations

from tests.unit.api.conftest import auth

BASE = "/api/v1"
ENTRY = {"question": "物业不作为怎么投诉？", "alternatives": ["物业服务差", "物业不管事"],
         "answer": "先向物业公司书面提出，再向社区和住房和城乡建设部门反映。",
         "region_code": "410300", "category": "housing", "review_at": "2027-06-30"}


async def _published(client) -> str:
    resp = await client.post(f"{BASE}/kb/entries", json=ENTRY, headers=auth("dept_housing"))
    assert resp.status == 201, await resp.text()
    entry_id = (await resp.json())["entry_id"]
    resp = await client.post(f"{BASE}/kb/entries/{entry_id}/status",
                             json={"status": "in_review"}, headers=auth("dept_housing"))
    assert resp.status == 200
    resp = await client.post(f"{BASE}/kb/entries/{entry_id}/status",
                             json={"status": "published"}, headers=auth("sup"))
    assert resp.status == 200, await resp.text()
    return entry_id


async def test_a_department_writes_and_submits_but_only_a_supervisor_publishes(client):
    resp = await client.post(f"{BASE}/kb/entries", json=ENTRY, headers=auth("dept_housing"))
    body = await resp.json()
    assert (resp.status, body["department"], body["status"]) == (201, "housing", "draft")
    path = f"{BASE}/kb/entries/{body['entry_id']}/status"
    await client.post(path, json={"status": "in_review"}, headers=auth("dept_housing"))
    resp = await client.post(path, json={"status": "published"}, headers=auth("dept_housing"))
    assert resp.status == 403
    assert (await resp.json())["error_id"] == "kb_forbidden"


async def test_other_departments_and_agents_may_not_edit(client):
    entry_id = await _published(client)
    await client.post(f"{BASE}/kb/entries/{entry_id}/status", json={"status": "draft"},
                      headers=auth("dept_housing"))
    resp = await client.patch(f"{BASE}/kb/entries/{entry_id}", json={"answer": "x" * 10},
                              headers=auth("dept_hrss"))
    assert resp.status == 403
    resp = await client.post(f"{BASE}/kb/entries", json=ENTRY, headers=auth("agent1001"))
    assert resp.status == 403
    assert (await resp.json())["error_id"] == "role_forbidden"
    resp = await client.post(f"{BASE}/kb/entries", json={**ENTRY, "department": "housing"},
                             headers=auth("dept_hrss"))
    assert resp.status == 403


async def test_agents_search_published_answers_with_scores_and_matched_words(client):
    entry_id = await _published(client)
    resp = await client.get(f"{BASE}/kb/search", params={
        "q": "小区物业什么都不管", "category": "housing", "region": "410300"},
        headers=auth("agent1001"))
    hits = (await resp.json())["hits"]
    assert resp.status == 200 and hits[0]["entry_id"] == entry_id
    assert "物业" in hits[0]["matched"] and hits[0]["score"] > 0


async def test_drafts_are_hidden_from_agents(client):
    resp = await client.post(f"{BASE}/kb/entries", json=ENTRY, headers=auth("dept_housing"))
    entry_id = (await resp.json())["entry_id"]
    resp = await client.get(f"{BASE}/kb/entries/{entry_id}", headers=auth("agent1001"))
    assert resp.status == 404
    resp = await client.get(f"{BASE}/kb/search", params={"q": "物业"}, headers=auth("agent1001"))
    assert (await resp.json())["hits"] == []
    resp = await client.get(f"{BASE}/kb/entries/{entry_id}", headers=auth("dept_housing"))
    body = await resp.json()
    assert resp.status == 200 and [a["kind"] for a in body["audit"]] == ["created"]


async def test_a_use_is_recorded_and_counted_per_entry(client):
    entry_id = await _published(client)
    for _ in range(2):
        resp = await client.post(f"{BASE}/kb/entries/{entry_id}/uses",
                                 json={"order_id": "WO-20261201-000000000001"},
                                 headers=auth("agent1001"))
        assert resp.status == 201
    assert (await resp.json())["uses"] == 2
    resp = await client.get(f"{BASE}/reports/kb", headers=auth("sup"))
    rows = {r["department"]: r for r in (await resp.json())["rows"]}
    assert rows["housing"]["uses"] == 2 and rows["housing"]["stale_share"] == 0.0


async def test_the_report_is_role_checked(client):
    await _published(client)
    resp = await client.get(f"{BASE}/reports/kb", headers=auth("agent1001"))
    assert resp.status == 403
    resp = await client.get(f"{BASE}/reports/kb", headers=auth("dept_hrss"))
    assert resp.status == 200 and (await resp.json())["rows"] == []


async def test_search_needs_a_text_and_refuses_hostile_parameters(client):
    resp = await client.get(f"{BASE}/kb/search", headers=auth("agent1001"))
    assert resp.status == 400
    resp = await client.get(f"{BASE}/kb/search", params={"q": "物业", "region": "41;drop"},
                            headers=auth("agent1001"))
    assert resp.status == 400
