"""The page (with and without JavaScript), history, saved queries, stats and autocompletion names."""

from __future__ import annotations

import psycopg

from sqlconsole.models import QueryHistory, SavedQuery
from tests.conftest import libpq


def test_the_page_works_as_a_plain_form_without_the_bundle(shop, bob, client_as, monkeypatch):
    from sqlconsole import views

    monkeypatch.setattr(views, "_bundle_available", lambda: False)
    client = client_as(bob)
    page = client.get("/sql")
    assert "build/sqlconsole.js" not in page.content.decode()
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="sql"' in html and 'value="explain"' in html
    assert "Enable write mode" not in html  # bob is an editor: read-only console
    response = client.post("/sql", {"sql": "SELECT name, balance FROM accounts WHERE balance > 20 ORDER BY id",
                                    "action": "run"})
    html = response.content.decode()
    assert "<td>account 3</td>" in html and "3 rows" in html
    assert '<td class="num">50</td>' in html  # numbers are right-aligned (text stays left)
    explained = client.post("/sql", {"sql": "SELECT * FROM accounts WHERE id = 1", "action": "explain"}).content.decode()
    assert 'class="plan-tree"' in explained and "accounts" in explained and "Raw JSON" in explained


def test_an_error_is_shown_with_its_line_and_a_caret(shop, bob, client_as):
    html = client_as(bob).post("/sql", {"sql": "SELECT 1;\nSELECT nope FROM accounts", "action": "run"}).content.decode()
    assert "column &quot;nope&quot; does not exist" in html
    assert "at line 2" in html
    assert "SELECT nope FROM accounts\n       ^" in html


def test_history_is_per_user_searchable_and_rerunnable(shop, bob, carol, api_as, client_as):
    api = api_as(bob)
    api.post("/api/database/query", {"sql": "SELECT count(*) FROM accounts; SELECT 1 AS one"}, format="json")
    api_as(carol).post("/api/database/query", {"sql": "SELECT 'carol was here'"}, format="json")
    everything = api.get("/api/database/history").json()["history"]
    assert [h["sql"] for h in everything] == ["SELECT 1 AS one", "SELECT count(*) FROM accounts"]
    assert everything[1]["rows"] == 1 and everything[1]["outcome"] == "ok"
    found = api.get("/api/database/history", {"q": "accounts"}).json()["history"]
    assert [h["sql"] for h in found] == ["SELECT count(*) FROM accounts"]
    # re-run: the page opens the entry's SQL in the editor
    entry = QueryHistory.objects.get(user=bob, sql="SELECT count(*) FROM accounts")
    page = client_as(bob).get(f"/sql?history={entry.pk}").content.decode()
    assert ">SELECT count(*) FROM accounts</textarea>" in page
    assert "carol was here" not in page


def test_saved_queries_are_private_unless_shared(shop, alice, bob, carol, api_as):
    made = api_as(alice).post("/api/database/saved", {"name": "Rich accounts", "sql": "SELECT * FROM accounts "
                                                      "WHERE balance > 30", "shared": True}, format="json")
    assert made.status_code == 201
    api_as(alice).post("/api/database/saved", {"name": "Mine only", "sql": "SELECT 1"}, format="json")
    seen_by_carol = api_as(carol).get("/api/database/saved").json()["saved"]
    assert [(s["name"], s["owner"], s["mine"]) for s in seen_by_carol] == [("Rich accounts", "alice", False)]
    assert api_as(carol).delete(f"/api/database/saved/{made.json()['id']}").status_code == 404
    assert SavedQuery.objects.filter(name="Rich accounts").exists()
    # saving again under the same name updates it
    api_as(alice).post("/api/database/saved", {"name": "Mine only", "sql": "SELECT 2"}, format="json")
    assert SavedQuery.objects.get(owner=alice, name="Mine only").sql == "SELECT 2"
    assert api_as(alice).delete(f"/api/database/saved/{made.json()['id']}").status_code == 204


def test_saving_from_the_page(shop, bob, client_as):
    client = client_as(bob)
    response = client.post("/sql/save", {"name": "Balances", "sql": "SELECT balance FROM accounts", "shared": "1"})
    saved = SavedQuery.objects.get(owner=bob, name="Balances")
    assert saved.shared and response.url == f"/sql?saved={saved.pk}"
    assert ">SELECT balance FROM accounts</textarea>" in client.get(response.url).content.decode()


def test_stats_show_size_connections_cache_and_the_longest_running_queries(shop, alice, carol, api_as):
    with psycopg.connect(libpq(shop), application_name="stats-probe") as other:
        other.execute("SELECT 'holding a transaction open'")  # leaves it idle in transaction
        seen_by_viewer = api_as(carol).get("/api/database/stats").json()
        stats = api_as(alice).get("/api/database/stats").json()
    # a viewer sees the counts and who runs what for how long, never another session's query text
    assert seen_by_viewer["idle_in_transaction"] >= 1 and not seen_by_viewer["query_text_shown"]
    mine = [q for q in seen_by_viewer["longest_queries"] if q["application_name"] == "stats-probe"]
    assert mine and mine[0]["query"] is None
    assert stats["size_bytes"] > 0 and stats["connections"] >= 1 and stats["max_connections"] > 0
    assert stats["idle_in_transaction"] >= 1
    assert stats["cache_hit_ratio"] is None or 0 <= stats["cache_hit_ratio"] <= 1
    assert {t["name"] for t in stats["biggest_tables"]} >= {"accounts", "ledger"}
    assert stats["biggest_tables"][0]["name"] == "ledger"  # 30 000 rows outweigh 5
    probe = [q for q in stats["longest_queries"] if q["application_name"] == "stats-probe"]
    assert probe and probe[0]["query"] == "SELECT 'holding a transaction open'"


def test_autocompletion_names_come_from_the_database(shop, carol, api_as):
    data = api_as(carol).get("/api/database/schema").json()
    assert data["default_schema"] == "public"
    assert data["schema"]["public"]["accounts"] == ["id", "name", "balance"]


def test_anonymous_callers_get_401(shop, client):
    assert client.post("/api/database/query", {"sql": "SELECT 1"}).status_code == 401
    assert client.get("/sql").status_code == 302


def test_out_of_range_ids_are_not_found_rather_than_errors(shop, bob, api_as, client_as):
    huge = 10**25
    assert api_as(bob).delete(f"/api/database/saved/{huge}").status_code == 404
    assert client_as(bob).get(f"/sql?history={huge}").status_code == 200


def test_history_keeps_the_newest_statements_per_user(shop, bob, carol, api_as, monkeypatch):
    from sqlconsole import actions

    monkeypatch.setattr(actions, "HISTORY_KEEP", 3)
    api_as(carol).post("/api/database/query", {"sql": "SELECT 'carol'"}, format="json")
    api_as(bob).post("/api/database/query", {"sql": "SELECT 1; SELECT 2; SELECT 3"}, format="json")
    api_as(bob).post("/api/database/query", {"sql": "SELECT 4; SELECT 5"}, format="json")
    kept = [h["sql"] for h in api_as(bob).get("/api/database/history").json()["history"]]
    assert kept == ["SELECT 5", "SELECT 4", "SELECT 3"]
    assert QueryHistory.objects.filter(user=carol).count() == 1


def test_without_a_target_database_the_api_says_so(bob, api_as, settings):
    from core import target

    settings.TARGET_DATABASE_URL = ""
    target.set_target_url(None)
    api = api_as(bob)
    for response in (api.post("/api/database/query", {"sql": "SELECT 1"}, format="json"),
                     api.get("/api/database/stats"), api.get("/api/database/schema")):
        assert response.status_code == 503
        assert "DATABASE_URL" in response.json()["error"]["message"]
