"""Alembic in the browser: revision graph, status, SQL preview, runs, backups, live logs."""
