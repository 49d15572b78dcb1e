"""Pages of `migrations_ui`."""

from django.urls import path

from migrations_ui import views

urlpatterns = [
    path("alembic", views.alembic_index, name="alembic"),
    path("alembic/part/history", views.alembic_part_history, name="alembic-part-history"),
    path("alembic/part/drift", views.alembic_part_drift, name="alembic-part-drift"),
    path("alembic/revisions/<str:rev>", views.revision_page, name="alembic-revision"),
    path("alembic/revisions/<str:rev>/part", views.revision_part, name="alembic-revision-part"),
    path("alembic/run", views.run_confirm, name="alembic-confirm"),
    path("alembic/run/preview", views.run_confirm_preview, name="alembic-confirm-preview"),
    path("alembic/section", views.choose_section, name="alembic-section"),
    path("alembic/drift", views.drift_page, name="alembic-drift"),
    path("alembic/backups", views.backups_page, name="alembic-backups"),
    path("alembic/backups/<str:name>/restore", views.restore_confirm, name="alembic-restore"),
    path("alembic/runs", views.run_list, name="alembic-runs"),
    path("alembic/runs/<int:run_id>", views.run_page, name="alembic-run"),
    path("alembic/runs/<int:run_id>/cancel", views.run_cancel, name="alembic-run-cancel"),
]
