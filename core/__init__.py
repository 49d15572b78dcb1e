"""Core: the target connection, login and roles, the audit log, layout, health, startup checks."""
