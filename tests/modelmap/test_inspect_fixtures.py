"""Every fixture project through GET /api/models, checked against SQLAlchemy's own inspect(mapper).

The models are imported by the tool only in its child process; the test imports the same files in
its own process to get the reference answer. Nothing here is a hand-written copy of the output.
"""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import FIXTURES
from tests.modelmap.conftest import assert_matches_sqlalchemy, load_mappers

CASES = {
    # fixture: (modules to import in the test, owners of the registries)
    "models_typed20": (["typed_app.models", "typed_app.media"], ["typed_app.base:Base"]),
    "models_decl14": (["legacy_app.models"], ["legacy_app.models:Base", "legacy_app.models:mapper_registry"]),
    "models_inherit": (["hr_app.models"], ["hr_app.models:Base"]),
    "models_m2m": (["store_app.models"], ["store_app.models:Base"]),
    "models_selfref": (["tree_app.models"], ["tree_app.models:Base"]),
    "models_twofk": (["bank_app.models"], ["bank_app.models:Base"]),
    "models_package": (["shop.models.users", "shop.models.orders", "shop.models.catalog.items"], ["shop.models.base:Base"]),
}


def _models(api, use_project, fixture: str, base: str = "") -> dict:
    use_project(fixture, base)
    response = api.get("/api/models")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.parametrize("fixture", sorted(CASES))
def test_carol_sees_every_model_exactly_as_sqlalchemy_reports_it(fixture, carol, api_as, use_project):
    body = _models(api_as(carol), use_project, fixture)
    assert body["errors"] == [] and body["runner_error"] is None
    modules, owners = CASES[fixture]
    assert_matches_sqlalchemy(body["models"], load_mappers(FIXTURES / fixture, modules, owners))


def test_typed_models_show_types_schemas_defaults_and_one_to_one(carol, api_as, use_project):
    body = _models(api_as(carol), use_project, "models_typed20")
    models = {m["name"]: m for m in body["models"]}
    author, post, cover = models["Author"], models["Post"], models["Cover"]
    assert author["table"] == "blog.authors" and cover["table"] == "media.covers"
    columns = {c["attr"]: c for c in author["columns"]}
    assert columns["email"]["type"] == "String(255)" and columns["email"]["unique"]
    assert columns["karma"]["server_default"] == "0"
    assert columns["karma"]["default"] == {"kind": "scalar", "value": 0, "text": "0", "python_type": "int"}
    slug = {c["attr"]: c for c in post["columns"]}["slug"]["default"]
    assert (slug["kind"], slug["value"]) == ("callable", "new_slug")  # a callable, by name
    assert {c["attr"]: c for c in post["columns"]}["author_id"]["index"]
    fk = {c["attr"]: c for c in post["columns"]}["author_id"]["foreign_keys"][0]
    assert (fk["target"], fk["ondelete"], fk["onupdate"]) == ("blog.authors.id", "CASCADE", "CASCADE")
    rels = {r["name"]: r for r in post["relationships"]}
    assert rels["cover"]["direction"] == "1:1" and rels["author"]["direction"] == "N:1"
    assert {r["name"]: r for r in cover["relationships"]}["post"]["direction"] == "1:1"
    assert {r["name"]: r for r in author["relationships"]}["posts"]["cascade_label"] == "all, delete-orphan"
    tables = {t["id"]: t for t in body["tables"]}
    assert {"kind": "unique", "name": "uq_post_slug", "columns": ["author_id", "slug"]} in tables["blog.posts"]["constraints"]
    assert any(i["name"] == "ix_posts_created" for i in tables["blog.posts"]["indexes"])
    # The shared enum is one type on two tables.
    assert {c["attr"]: c for c in post["columns"]}["status"]["sql_type"] == columns["status"]["sql_type"] == "status"


def test_legacy_declarative_base_and_imperative_mapping_are_both_found(carol, api_as, use_project):
    body = _models(api_as(carol), use_project, "models_decl14")
    models = {m["name"]: m for m in body["models"]}
    assert models["Address"]["imperative"] and not models["Customer"]["imperative"]
    invoices = {r["name"]: r for r in models["Customer"]["relationships"]}["invoices"]
    assert invoices["lazy"] == "dynamic" and invoices["reverse"] == ["customer"]
    assert {r["name"]: r for r in models["Invoice"]["relationships"]}["customer"]["backref"] == "invoices"
    assert "legacy_app.models:Base" in body["base"] and body["found_by"] == "scan"


def test_inheritance_and_mixins_are_described(carol, api_as, use_project):
    models = {m["name"]: m for m in _models(api_as(carol), use_project, "models_inherit")["models"]}
    assert models["Engineer"]["inheritance"]["kind"] == "joined"
    assert models["Car"]["inheritance"]["kind"] == "single" and models["Car"]["table"] == "vehicles"
    assert models["Vehicle"]["inheritance"]["children"] == ["Car", "Truck"]
    assert "TimestampMixin" in models["Employee"]["mixins"]
    assert "Audited" not in {m["name"] for m in models.values()}  # abstract: no table, no model
    assert {c["attr"]: c for c in models["Engineer"]["columns"]}["name"]["inherited"]


def test_association_table_is_listed_apart_and_association_object_is_a_model(carol, api_as, use_project):
    body = _models(api_as(carol), use_project, "models_m2m")
    tables = {t["id"]: t for t in body["tables"]}
    assert tables["product_tags"]["association"] and not tables["product_tags"]["mapped"]
    assert tables["order_lines"]["models"] == ["OrderLine"]
    tags = {r["name"]: r for r in {m["name"]: m for m in body["models"]}["Product"]["relationships"]}["tags"]
    assert (tags["direction"], tags["secondary"]) == ("N:M", "product_tags")


def test_package_models_are_found_with_an_explicit_base_too(carol, api_as, use_project):
    body = _models(api_as(carol), use_project, "models_package", "shop.models.base:Base")
    assert body["found_by"] == "PGADMIN_SQLALCHEMY_BASE"
    assert sorted(m["name"] for m in body["models"]) == ["Cart", "Item", "User"]


def test_a_module_that_fails_to_import_is_reported_and_the_rest_still_shows(carol, api_as, use_project, tmp_path):
    project = tmp_path / "broken"
    shutil.copytree(FIXTURES / "models_broken", project)
    (project / "broken_app" / "models" / "typo.py").write_text("from sqlalchemy import Column\n\nx = = Column()\n")
    use_project(project)
    body = api_as(carol).get("/api/models").json()
    errors = {e["module"]: e for e in body["errors"]}
    assert set(errors) == {"broken_app.models.needs_package", "broken_app.models.needs_env", "broken_app.models.typo"}
    assert "stripe_sdk_not_installed" in errors["broken_app.models.needs_package"]["error"]
    assert "PGADMIN_PROJECT_PYTHON" in errors["broken_app.models.needs_package"]["hint"]
    assert "BROKEN_APP_API_KEY" in errors["broken_app.models.needs_env"]["hint"]
    assert errors["broken_app.models.typo"]["where"].endswith("typo.py:3")
    mappers = load_mappers(project, ["broken_app.models.good"], ["broken_app.models.base:Base"])
    assert_matches_sqlalchemy(body["models"], mappers)


def test_two_hundred_generated_models_match_sqlalchemy(carol, api_as, use_project, tmp_path):
    from tests.modelmap.generate import generate

    promised = generate(tmp_path, 200, package="gen200_app")
    use_project(tmp_path)
    body = api_as(carol).get("/api/models").json()
    assert body["errors"] == []
    assert len(body["models"]) == promised["models"] and len(body["tables"]) == promised["tables"]
    assert sum(len(m["relationships"]) for m in body["models"]) == promised["relationships"]
    modules = [f"gen200_app.models.m{i:02d}" for i in range(20)]
    assert_matches_sqlalchemy(body["models"], load_mappers(tmp_path, modules, ["gen200_app.models.base:Base"]))


def test_edited_code_is_picked_up_on_the_next_request(carol, api_as, use_project, tmp_path):
    project = tmp_path / "live"
    shutil.copytree(FIXTURES / "models_selfref", project)
    use_project(project)
    api = api_as(carol)
    assert [m["name"] for m in api.get("/api/models").json()["models"]] == ["Category"]
    models_py = project / "tree_app" / "models.py"
    models_py.write_text(models_py.read_text() + "\n\nclass Label(Base):\n    __tablename__ = 'labels'\n"
                         "    id: Mapped[int] = mapped_column(primary_key=True)\n")
    import os
    os.utime(models_py, ns=(os.stat(models_py).st_mtime_ns + 10**9,) * 2)  # coarse-mtime file systems
    assert sorted(m["name"] for m in api.get("/api/models").json()["models"]) == ["Category", "Label"]


def test_sqlmodel_table_models_are_found_and_data_models_are_not(carol, api_as, use_project):
    pytest.importorskip("sqlmodel")
    body = _models(api_as(carol), use_project, "models_sqlmodel")
    assert body["errors"] == [] and body["base"] == "sqlmodel:SQLModel"
    mappers = load_mappers(FIXTURES / "models_sqlmodel", ["hero_app.models"], ["sqlmodel.main:default_registry"])
    assert_matches_sqlalchemy(body["models"], {k: v for k, v in mappers.items() if v.class_.__module__ == "hero_app.models"})
    assert all(m["sqlmodel"] for m in body["models"])


def test_a_relationship_missing_foreign_keys_is_explained_and_columns_still_show(carol, api_as, use_project, tmp_path):
    project = tmp_path / "ambiguous"
    shutil.copytree(FIXTURES / "models_twofk", project)
    models_py = project / "bank_app" / "models.py"
    source = models_py.read_text().replace(', foreign_keys="Transfer.source_id"', "").replace(
        ", foreign_keys=[source_id]", "")
    models_py.write_text(source)
    use_project(project)
    body = api_as(carol).get("/api/models").json()
    assert [e["module"] for e in body["errors"]] == ["(mapper configuration)"]
    assert "foreign_keys" in body["errors"][0]["hint"]
    transfer = {m["name"]: m for m in body["models"]}["Transfer"]
    assert transfer["error"] and {c["name"] for c in transfer["columns"]} == {"id", "source_id", "destination_id", "amount"}


def test_models_page_tells_inheritance_mixins_imperative_mappings_and_import_errors(carol, client_as, use_project, tmp_path):
    client = client_as(carol)
    use_project("models_inherit")
    html = client.get("/models").content.decode()
    car = html.split('data-model="Car"')[1].split("</article>")[0]
    assert "single-table inheritance from" in car and "polymorphic identity <code>car</code>" in car
    assert "mixin TimestampMixin" in html
    use_project("models_decl14")
    assert "imperative mapping" in client.get("/models").content.decode().split('data-model="Address"')[1]
    project = tmp_path / "broken"
    shutil.copytree(FIXTURES / "models_broken", project)
    use_project(project)
    html = client.get("/models").content.decode()
    assert 'data-error-module="broken_app.models.needs_env"' in html and "BROKEN_APP_API_KEY" in html
    assert 'data-model="Survivor"' in html


def test_a_core_only_project_shows_its_tables_without_models(carol, api_as, use_project, tmp_path):
    (tmp_path / "core_app").mkdir()
    (tmp_path / "core_app" / "__init__.py").write_text("")
    (tmp_path / "core_app" / "schema.py").write_text(
        "from sqlalchemy import Column, ForeignKey, Integer, MetaData, Table\n\nmetadata = MetaData()\n"
        "users = Table('users', metadata, Column('id', Integer, primary_key=True))\n"
        "posts = Table('posts', metadata, Column('id', Integer, primary_key=True),\n"
        "              Column('user_id', ForeignKey('users.id', ondelete='CASCADE')))\n")
    use_project(tmp_path)
    api = api_as(carol)
    body = api.get("/api/models").json()
    assert body["models"] == [] and body["base"] == "core_app.schema:metadata"
    assert {t["id"]: t["mapped"] for t in body["tables"]} == {"users": False, "posts": False}
    graph = api.get("/api/erd?source=models").json()
    assert [(e["from"], e["to"], e["ondelete"]) for e in graph["relationships"]] == [("posts", "users", "CASCADE")]
