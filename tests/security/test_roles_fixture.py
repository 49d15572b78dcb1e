"""The two roles the security suite plays every attack with are what they claim to be."""

from __future__ import annotations

from sqlalchemy import text


def test_each_role_reaches_the_database_with_its_own_privileges(role_target):
    from core import target

    with target.connect() as conn:
        is_super = conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar()
        owns_db = conn.execute(text("SELECT pg_get_userbyid(datdba) = current_user FROM pg_database "
                                    "WHERE datname = current_database()")).scalar()
    assert is_super is (role_target == "superuser")
    assert owns_db is (role_target == "app")
