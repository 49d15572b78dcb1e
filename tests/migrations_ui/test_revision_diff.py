"""The revision page compares upgrade()/downgrade() with the parent's (read as text, never imported)."""

from __future__ import annotations

import pytest

from migrations_ui.preview import function_bodies

pytestmark = pytest.mark.django_db(transaction=True)


def _function(parent: dict, name: str) -> dict:
    return next(f for f in parent["functions"] if f["function"] == name)


def test_a_revision_is_diffed_against_its_parent(use_project, carol, api_as):
    use_project("branchmerge")
    diff = api_as(carol).get("/api/alembic/revisions/m2_billing?sql=0").json()["diff"]
    assert [p["parent"] for p in diff["parents"]] == ["m1_base"] and diff["note"] == ""
    lines = _function(diff["parents"][0], "upgrade")["lines"]
    assert {"kind": "del", "text": '-op.create_table("accounts", sa.Column("id", sa.Integer, primary_key=True))'} in lines
    assert any(line["kind"] == "add" and line["text"].startswith('+op.create_table("invoices"') for line in lines)
    assert [line["kind"] for line in lines[:3]] == ["file", "file", "hunk"]
    down = _function(diff["parents"][0], "downgrade")["lines"]
    assert {"kind": "del", "text": '-op.drop_table("accounts")'} in down
    assert {"kind": "add", "text": '+op.drop_table("invoices")'} in down


def test_a_merge_is_diffed_against_each_parent_and_the_first_revision_has_none(use_project, carol, api_as):
    use_project("branchmerge")
    api = api_as(carol)
    merge = api.get("/api/alembic/revisions/m4_merge?sql=0").json()["diff"]
    assert [p["parent"] for p in merge["parents"]] == ["m2_billing", "m3_profile"]
    assert "merge" in merge["note"]
    vs_profile = _function(merge["parents"][1], "upgrade")["lines"]
    assert {"kind": "del", "text": '-op.add_column("accounts", sa.Column("email", sa.Text))'} in vs_profile
    assert {"kind": "add", "text": "+pass"} in vs_profile
    first = api.get("/api/alembic/revisions/m1_base?sql=0").json()["diff"]
    assert first["parents"] == [] and "no parent" in first["note"]


def test_the_revision_page_shows_the_diff_coloured(use_project, carol, client_as):
    use_project("branchmerge")
    client = client_as(carol)
    page = client.get("/alembic/revisions/m3_profile").content.decode()
    assert 'id="parent-diff"' in page and 'data-parent="m1_base"' in page
    assert '<span class="d-add">+op.add_column(&quot;accounts&quot;, sa.Column(&quot;email&quot;, sa.Text))</span>' in page
    assert '<span class="d-del">-op.create_table(&quot;accounts&quot;' in page
    assert '<pre class="diff" data-function="downgrade">' in page
    first = client.get("/alembic/revisions/m1_base").content.decode()
    assert "data-diff-note" in first and "no parent" in first and "data-parent=" not in first


def test_bodies_are_parsed_from_text_so_a_file_that_cannot_import_still_diffs():
    source = (
        "import module_that_does_not_exist\n"
        "raise SystemExit('importing this file would stop the server')\n\n"
        "def upgrade() -> None:\n"
        "    \"\"\"Add the column.\"\"\"\n"
        "    op.add_column(\n        't', sa.Column('c', sa.Text))\n\n\n"
        "def helper():\n    pass\n"
    )
    bodies = function_bodies(source)
    assert bodies["upgrade"] == ['"""Add the column."""', "op.add_column(", "    't', sa.Column('c', sa.Text))"]
    assert bodies["downgrade"] is None  # no such function: said, not invented
    assert function_bodies("def upgrade(:\n") == {"upgrade": None, "downgrade": None}
