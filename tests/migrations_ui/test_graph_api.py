"""The revision graph the API returns is the one Alembic itself sees, with the DB's state on top."""

from __future__ import annotations

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from tests.migrations_ui.conftest import project_dir

pytestmark = pytest.mark.django_db


def alembic_graph(name: str) -> dict[str, object]:
    """What Alembic's own ScriptDirectory says (computed here, not hard-coded)."""
    script = ScriptDirectory.from_config(Config(str(project_dir(name) / "alembic.ini")))
    revs = {sc.revision: {"down": sorted(sc._versioned_down_revisions), "is_head": sc.is_head,
                          "is_merge": sc.is_merge_point, "is_branch_point": sc.is_branch_point,
                          "branch_labels": sorted(sc.branch_labels), "doc": sc.doc}
            for sc in script.walk_revisions()}
    return {"heads": sorted(script.get_heads()), "revisions": revs}


@pytest.mark.parametrize("name", ["linear", "branchmerge", "twoheads", "async"])
def test_graph_from_the_api_equals_alembics_own(name, use_project, alice, api_as):
    use_project(name)
    body = api_as(alice).get("/api/alembic/migrations").json()
    expected = alembic_graph(name)
    assert sorted(body["heads"]) == expected["heads"]
    got = {r["revision"]: {"down": sorted(r["down_revisions"]), "is_head": r["is_head"], "is_merge": r["is_merge"],
                           "is_branch_point": r["is_branch_point"], "branch_labels": r["branch_labels"], "doc": r["doc"]}
           for r in body["revisions"]}
    assert got == expected["revisions"]
    # an empty database: nothing applied, everything pending
    assert body["current"] == [] and body["applied_count"] == 0
    assert body["pending_count"] == len(expected["revisions"])


def test_revisions_carry_create_date_and_file(use_project, alice, api_as):
    use_project("branchmerge")
    body = api_as(alice).get("/api/alembic/migrations").json()
    by_id = {r["revision"]: r for r in body["revisions"]}
    source = (project_dir("branchmerge") / "migrations" / "versions" / "m5_audit.py").read_text()
    date_line = next(line for line in source.splitlines() if line.startswith("Create Date:"))
    assert by_id["m5_audit"]["create_date"] == date_line.split(":", 1)[1].strip()
    assert by_id["m5_audit"]["module_path"].endswith("m5_audit.py")
    assert by_id["m5_audit"]["depends_on"] == ["m2_billing"]


def test_two_heads_are_flagged_with_the_merge_command(use_project, alice, client_as):
    use_project("twoheads")
    page = client_as(alice).get("/alembic").content.decode()
    assert "data-multiple-heads" in page
    assert "alembic merge -m" in page and "h2_left" in page and "h3_right" in page


def test_the_graph_page_draws_merges_and_branch_points(use_project, alice, client_as):
    use_project("branchmerge")
    page = client_as(alice).get("/alembic").content.decode()
    edges = sum(len(r["down"]) for r in alembic_graph("branchmerge")["revisions"].values())
    assert page.count('class="edge"') == edges  # one drawn edge per parent link, the merge's two included
    assert "label-merge" in page and "label-branch" in page
    # newest on top: m5 is drawn before m1
    assert page.index('data-revision="m5_audit"') < page.index('data-revision="m1_base"')


def test_a_missing_module_in_env_py_is_a_clear_error_not_a_crash(use_project, alice, api_as, client_as):
    use_project("missingmodule")
    api = api_as(alice)
    # the graph does not need env.py: it still works
    assert api.get("/api/alembic/migrations").status_code == 200
    detail = api.get("/api/alembic/revisions/mm1_first").json()
    assert detail["upgrade_sql"]["ok"] is False
    assert "pgadmin_fixture_missing_module" in detail["upgrade_sql"]["error"]
    assert "PGADMIN_PROJECT_PYTHON" in detail["upgrade_sql"]["hint"]
    page = client_as(alice).get("/alembic/revisions/mm1_first")
    assert page.status_code == 200 and b"data-offline-failed" in page.content
    assert b"Dry run instead" in page.content  # the way forward when offline mode cannot work


def test_revision_detail_shows_sql_and_safety(use_project, alice, client_as, api_as):
    use_project("linear")
    detail = api_as(alice).get("/api/alembic/revisions/l3_name_index").json()
    assert "CREATE INDEX ix_items_name ON items (name)" in detail["upgrade_sql"]["sql"]
    assert [f["rule"] for f in detail["upgrade_sql"]["findings"]].count("create_index_blocking") == 1
    assert "DROP INDEX ix_items_name" in detail["downgrade_sql"]["sql"]
    page = client_as(alice).get("/alembic/revisions/l3_name_index").content.decode()
    assert 'class="hl"' in page  # Pygments
    assert "create_index_blocking" in page


def test_unknown_revision_is_404(use_project, alice, api_as):
    use_project("linear")
    response = api_as(alice).get("/api/alembic/revisions/nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def write_big_history(root, count: int = 210) -> None:  # type: ignore[no-untyped-def]
    """A history of ``count`` revisions: branches of three merged by three-parent merges,
    branch labels and depends_on, like a long-lived project's."""
    import shutil

    shutil.copy(project_dir("linear") / "alembic.ini", root / "alembic.ini")
    (root / "migrations" / "versions").mkdir(parents=True)
    shutil.copy(project_dir("linear") / "migrations" / "env.py", root / "migrations" / "env.py")
    template = ('"""{doc}\n\nRevision ID: {rev}\nRevises: {down}\nCreate Date: 2025-01-01 00:00:00\n\n"""\n\n'
                'revision = "{rev}"\ndown_revision = {down_repr}\nbranch_labels = {labels!r}\n'
                'depends_on = {depends!r}\n\n\ndef upgrade() -> None:\n    pass\n\n\ndef downgrade() -> None:\n    pass\n')
    revs: list[tuple[str, object, object, object]] = []
    tip: str | None = None
    n = 0
    while n < count:
        if n % 10 == 0 and tip is not None and n + 4 <= count:
            arms = [f"r{n + i:04d}" for i in range(3)]
            for i, arm in enumerate(arms):
                revs.append((arm, tip, (f"arm{n}_{i}",) if i == 0 else None, None))
            merge = f"r{n + 3:04d}"
            revs.append((merge, tuple(arms), None, None))
            tip, n = merge, n + 4
        else:
            rev = f"r{n:04d}"
            depends = revs[-5][0] if n % 7 == 0 and len(revs) > 5 else None
            revs.append((rev, tip, None, depends))
            tip, n = rev, n + 1
    for rev, down, labels, depends in revs:
        down_text = ", ".join(down) if isinstance(down, tuple) else (down or "")
        (root / "migrations" / "versions" / f"{rev}.py").write_text(template.format(
            doc=f"step {rev}", rev=rev, down=down_text, down_repr=repr(down), labels=labels, depends=depends))


def test_a_long_history_with_three_parent_merges_matches_alembic(tmp_path, use_project, settings, alice, api_as):
    write_big_history(tmp_path)
    use_project("linear")
    settings.PROJECT_DIR = tmp_path
    settings.ALEMBIC_CONFIG = str(tmp_path / "alembic.ini")
    body = api_as(alice).get("/api/alembic/migrations").json()
    script = ScriptDirectory.from_config(Config(str(tmp_path / "alembic.ini")))
    expected = {sc.revision: (sorted(sc._versioned_down_revisions), sorted(sc.branch_labels),
                              sorted(sc._resolved_dependencies)) for sc in script.walk_revisions()}
    got = {r["revision"]: (sorted(r["down_revisions"]), r["branch_labels"], sorted(r["depends_on"]))
           for r in body["revisions"]}
    assert got == expected and len(got) >= 200
    assert any(len(r["down_revisions"]) == 3 for r in body["revisions"])
    assert body["heads"] == list(script.get_heads())


def test_authors_come_from_git_when_the_project_is_a_checkout(demo_url, settings, alice, api_as):
    import subprocess

    from core import target
    from core.demo import DEMO_DIR

    settings.PROJECT_DIR, settings.ALEMBIC_CONFIG, settings.TARGET_DATABASE_URL = DEMO_DIR, "", demo_url
    target.set_target_url(None)
    body = api_as(alice).get("/api/alembic/migrations").json()
    target.dispose()
    for rev in body["revisions"]:
        expected = subprocess.run(["git", "log", "--diff-filter=A", "--format=%an", "--", rev["module_path"]],
                                  capture_output=True, text=True, cwd=DEMO_DIR).stdout.strip().splitlines()
        assert rev["author"] == (expected[-1] if expected else None)
