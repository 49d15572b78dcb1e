"""Pages of `sqlconsole`."""

from django.urls import path

from sqlconsole import views

urlpatterns = [
    path("sql", views.console, name="sql"),
    path("sql/write-mode", views.write_mode, name="sql-write-mode"),
    path("sql/save", views.save, name="sql-save"),
    path("sql/saved/<int:saved_id>/delete", views.delete_saved, name="sql-saved-delete"),
]
