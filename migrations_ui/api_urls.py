"""API routes of `migrations_ui` (mounted under /api/)."""

from django.urls import path

from migrations_ui import api

urlpatterns = [
    path("alembic/migrations", api.MigrationsView.as_view(), name="api-alembic-migrations"),
    path("alembic/current", api.CurrentView.as_view(), name="api-alembic-current"),
    path("alembic/revisions/<str:rev>", api.RevisionView.as_view(), name="api-alembic-revision"),
    path("alembic/upgrade", api.UpgradeView.as_view(), name="api-alembic-upgrade"),
    path("alembic/downgrade", api.DowngradeView.as_view(), name="api-alembic-downgrade"),
    path("alembic/stamp", api.StampView.as_view(), name="api-alembic-stamp"),
    path("alembic/dryrun", api.DryRunView.as_view(), name="api-alembic-dryrun"),
    path("alembic/drift", api.DriftView.as_view(), name="api-alembic-drift"),
    path("alembic/backups", api.BackupsView.as_view(), name="api-alembic-backups"),
    path("alembic/restore", api.RestoreView.as_view(), name="api-alembic-restore"),
    path("alembic/runs", api.RunsView.as_view(), name="api-alembic-runs"),
    path("alembic/runs/<int:run_id>", api.RunView.as_view(), name="api-alembic-run"),
    path("alembic/runs/<int:run_id>/cancel", api.CancelView.as_view(), name="api-alembic-run-cancel"),
]
