"""Tests for the store: providers, agents, paging and filters, over real loopback sockets."""

from __future__ import annotations

import time

import httpx
import pytest
from sandbox_fixtures import PATH, import_body, us_number

from bulk_import.sandbox import Faults, RunningSandbox, SandboxState
from bulk_import.sandbox.registry import Reject
from bulk_import.sandbox.store import Store
from sandbox.helpers import OTHER_SID, SID, assert_error_body, client_for, post, seed_numbers


def test_import_by_twilio_account_links_a_provider(client: httpx.Client) -> None:
    """A Twilio-account import gets a provider with that SID and region, reusable by its id."""
    body = {
        "number": "+14155550101",
        "label": "a",
        "provider": {"type": "twilio", "account_sid": SID},
    }
    first = post(client, body).json()["provider"]
    assert first["account_sid"] == SID
    assert first["region"] == "us1"
    us1 = {"type": "twilio", "account_sid": SID, "region": "us1"}
    second = post(client, {**body, "number": "+14155550102", "provider": us1}).json()["provider"]
    assert second == first
    by_id = post(client, import_body("+14155550103", provider_id=first["id"]))
    assert by_id.status_code == 201
    assert by_id.json()["provider"] == first
    ie = {"type": "twilio", "account_sid": SID, "region": "ie1"}
    other = post(client, {**body, "number": "+14155550104", "provider": ie}).json()["provider"]
    assert other["region"] == "ie1"
    assert other["id"] != first["id"]


@pytest.mark.parametrize(
    ("provider", "agent", "fragment"),
    [
        ({"id": "prov_nope"}, None, "provider not found"),
        ({"type": "twilio", "account_sid": "AC123"}, None, "provider not found"),
        ({"id": "prov_sandbox"}, "agent_nope", "agent not found"),
    ],
)
def test_unknown_provider_or_agent_is_404(
    client: httpx.Client, provider: dict[str, str], agent: str | None, fragment: str
) -> None:
    """An unknown provider id, a malformed SID or an unknown agent is 404; nothing is stored."""
    body: dict[str, object] = {"number": "+14155550100", "label": "x", "provider": provider}
    if agent is not None:
        body["agent_id"] = agent
    assert_error_body(post(client, body), 404, fragment)
    assert client.get(PATH).json()["data"] == []


def test_unlinked_twilio_account_is_404_when_accounts_are_listed() -> None:
    """With twilio_accounts set, only those SIDs are linked; any other answers 404."""
    with RunningSandbox(faults=Faults(twilio_accounts=(SID,))) as sb, client_for(sb) as c:
        body = {"number": "+14155550100", "label": "x"}
        other = {**body, "provider": {"type": "twilio", "account_sid": OTHER_SID}}
        assert_error_body(post(c, other), 404, "not linked")
        linked = {**body, "provider": {"type": "twilio", "account_sid": SID}}
        assert post(c, linked).status_code == 201


def test_list_pages_through_250_numbers(sandbox: RunningSandbox, client: httpx.Client) -> None:
    """Paging 250 numbers by 100 gives 3 pages in creation order, has_more on all but the last."""
    ids = seed_numbers(sandbox.state, 250)
    assert ids == sorted(ids)
    pages: list[list[str]] = []
    more_flags: list[bool] = []
    params: dict[str, str | int] = {"limit": 100}
    while True:
        page = client.get(PATH, params=params).json()
        pages.append([n["id"] for n in page["data"]])
        more_flags.append(page["has_more"])
        if not page["has_more"]:
            break
        params["starting_after"] = pages[-1][-1]
    assert pages == [ids[:100], ids[100:200], ids[200:]]
    assert more_flags == [True, True, False]
    first = client.get(PATH).json()
    assert [n["id"] for n in first["data"]] == ids[:10]
    assert first["has_more"]


def test_list_ending_before_pages_backwards(sandbox: RunningSandbox, client: httpx.Client) -> None:
    """ending_before gives the page just before the cursor, has_more while more lie before it."""
    ids = seed_numbers(sandbox.state, 250)
    page = client.get(PATH, params={"limit": 100, "ending_before": ids[200]}).json()
    assert [n["id"] for n in page["data"]] == ids[100:200]
    assert page["has_more"]
    page = client.get(PATH, params={"limit": 100, "ending_before": ids[100]}).json()
    assert [n["id"] for n in page["data"]] == ids[:100]
    assert not page["has_more"]
    page = client.get(PATH, params={"ending_before": ids[0]}).json()
    assert page == {"data": [], "has_more": False}
    last = client.get(PATH, params={"limit": 100, "starting_after": ids[-1]}).json()
    assert last == {"data": [], "has_more": False}


def test_list_unfiltered_page_is_cheap_with_20000_numbers() -> None:
    """An unfiltered page deep into 20,000 numbers is found by id, not by a scan."""
    state = SandboxState(Faults())
    ids = seed_numbers(state, 20_000)
    started = time.perf_counter()
    for _ in range(200):
        items, more = state.store.page(
            limit=100,
            starting_after=ids[19_850],
            ending_before=None,
            agent_id=None,
            provider_id=None,
            kind=None,
            q=None,
        )
    assert [n.id for n in items] == ids[19_851:19_951]
    assert more
    assert time.perf_counter() - started < 0.5


def test_list_filters() -> None:
    """agent_id, provider_id, type and q filter the list; q matches number, label or agent name."""
    faults = Faults(agents=("agent_a", "agent_b"), providers=("prov_a", "prov_b"))
    with RunningSandbox(faults=faults) as sb, client_for(sb) as c:
        state = sb.state
        a = state.add_number("+14155550100", label="Front Desk", agent_id="agent_a")
        b = state.add_number(
            "+14155550101", label="Sales", agent_id="agent_b", provider_id="prov_b"
        )
        n = state.add_number("+442071838750", provider_id="prov_b")

        def ids(**params: str) -> list[str]:
            return [x["id"] for x in c.get(PATH, params=params).json()["data"]]

        assert ids() == [a["id"], b["id"], n["id"]]
        assert ids(agent_id="agent_a") == [a["id"]]
        assert ids(provider_id="prov_b") == [b["id"], n["id"]]
        assert ids(provider_id="prov_b", agent_id="agent_b") == [b["id"]]
        assert ids(type="twilio") == [a["id"], b["id"], n["id"]]
        assert ids(type="cartesia") == []
        assert ids(q="front desk") == [a["id"]]
        assert ids(q="+14155550101") == [b["id"]]
        assert ids(q="4155550") == [a["id"], b["id"]]
        assert ids(q="AGENT_B") == [b["id"]]
        assert ids(q="+4420") == [n["id"]]
        assert ids(q="nothing") == []
        assert ids(q="") == [a["id"], b["id"], n["id"]]


def test_filtered_list_pages_both_ways() -> None:
    """A filtered list pages with starting_after and ending_before like an unfiltered one."""
    faults = Faults(agents=("agent_a", "agent_b"))
    with RunningSandbox(faults=faults) as sb, client_for(sb) as c:
        a_ids = []
        for i in range(9):
            added = sb.state.add_number(us_number(i), agent_id="agent_a" if i % 3 else "agent_b")
            if i % 3:
                a_ids.append(added["id"])
        page = c.get(PATH, params={"agent_id": "agent_a", "limit": 4}).json()
        assert [x["id"] for x in page["data"]] == a_ids[:4]
        assert page["has_more"]
        params = {"agent_id": "agent_a", "limit": 4, "starting_after": a_ids[3]}
        page = c.get(PATH, params=params).json()
        assert [x["id"] for x in page["data"]] == a_ids[4:]
        assert not page["has_more"]
        params = {"agent_id": "agent_a", "limit": 2, "ending_before": a_ids[4]}
        page = c.get(PATH, params=params).json()
        assert [x["id"] for x in page["data"]] == a_ids[2:4]
        assert page["has_more"]
        params = {"agent_id": "agent_a", "limit": 5, "ending_before": a_ids[4]}
        page = c.get(PATH, params=params).json()
        assert [x["id"] for x in page["data"]] == a_ids[:4]
        assert not page["has_more"]


def test_get_by_id(client: httpx.Client) -> None:
    """GET by id returns what the import returned; an unknown id answers 404."""
    created = post(client, import_body("+14155550100")).json()
    assert client.get(f"{PATH}/{created['id']}").json() == created
    assert_error_body(client.get(f"{PATH}/pn_999"), 404, "phone number not found")


def test_patch_updates_label_agent_and_provider() -> None:
    """PATCH changes the label, assigns or unassigns (null) the agent, and changes provider."""
    faults = Faults(providers=("prov_a", "prov_b"))
    with RunningSandbox(faults=faults) as sb, client_for(sb) as c:
        created = post(c, import_body("+14155550100", provider_id="prov_a")).json()
        url = f"{PATH}/{created['id']}"
        r = c.patch(url, json={"agent_id": "agent_sandbox", "label": "Support"})
        assert r.status_code == 200
        assert r.json()["agent"]["id"] == "agent_sandbox"
        assert r.json()["label"] == "Support"
        assert c.patch(url, json={"agent_id": None}).json()["agent"] is None
        moved = c.patch(url, json={"provider": {"id": "prov_b"}}).json()
        assert moved["provider"]["id"] == "prov_b"
        assert moved["label"] == "Support"
        assert c.patch(url, json={}).json()["id"] == created["id"]
        assert c.get(PATH, params={"q": "support"}).json()["data"][0]["id"] == created["id"]


def page_of(
    store: Store,
    *,
    limit: int = 100,
    starting_after: str | None = None,
    ending_before: str | None = None,
    q: str | None = None,
) -> tuple[list[str], bool]:
    """Return the ids of one page of the store's list, and whether more lie beyond it."""
    items, more = store.page(
        limit=limit,
        starting_after=starting_after,
        ending_before=ending_before,
        agent_id=None,
        provider_id=None,
        kind=None,
        q=q,
    )
    return [n.id for n in items], more


def test_delete_then_the_list_pages_past_the_holes_and_ids_are_never_reused() -> None:
    """Deleted numbers leave the list, paged either way, filtered or not, and GET by id; an id
    is never given again; a deleted number can be imported again under a new id."""
    state = SandboxState(Faults())
    ids = seed_numbers(state, 300)
    store = state.store
    gone = set(ids[5:250:2])  # holes in the first and second pages, not the third
    for pn_id in gone:
        store.delete(store.find(pn_id))
    left = [i for i in ids if i not in gone]
    assert len(store) == len(left) == state.stats()["stored"]
    assert [n.id for n in store.order] == left
    listed: list[str] = []
    cursor = None
    while True:
        found, more = page_of(store, starting_after=cursor)
        listed += found
        if not more:
            break
        cursor = found[-1]
    assert listed == left
    assert page_of(store, limit=10, ending_before=left[-1]) == (left[-11:-1], True)
    assert page_of(store, q=us_number(7)[1:]) == ([], False)
    with pytest.raises(Reject, match="phone number not found"):
        store.find(ids[7])
    again = state.add_number(us_number(7))
    assert again["id"] == f"pn_{301:012d}"
    assert [n.id for n in store.order][-1] == again["id"]


def test_deletes_by_the_thousand_squeeze_the_holes_out() -> None:
    """Once holes are half the order they are squeezed out: positions stay right, and deleting
    3,000 of 4,000 numbers takes well under a second."""
    state = SandboxState(Faults())
    ids = seed_numbers(state, 4_000)
    store = state.store
    started = time.perf_counter()
    for pn_id in ids[:3_000]:
        store.delete(store.find(pn_id))
    assert time.perf_counter() - started < 1.0
    assert store.find(ids[3_500]).id == ids[3_500]
    assert page_of(store, starting_after=ids[3_000]) == (ids[3_001:3_101], True)
    assert len(store) == 1_000
