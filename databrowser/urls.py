"""Pages of the data browser. ``<tref>`` is ``schema.table`` (see ``databrowser.refs``), ``<pk>``
the row key values percent-encoded one by one and joined by ``,``."""

from django.urls import path

from databrowser import bulk_views, import_views, views

urlpatterns = [
    path("data", views.table_list, name="data"),
    path("data/<str:tref>", views.grid, name="data-table"),
    path("data/<str:tref>/columns", views.column_layout, name="data-columns"),
    path("data/<str:tref>/new", views.create_row, name="data-create"),
    path("data/<str:tref>/delete", views.delete_rows, name="data-delete-rows"),
    path("data/<str:tref>/bulk", bulk_views.bulk_edit, name="data-bulk"),
    path("data/<str:tref>/export", views.export, name="data-export"),
    path("data/<str:tref>/lookup", views.lookup, name="data-lookup"),
    path("data/<str:tref>/import", import_views.upload, name="data-import"),
    path("data/<str:tref>/import/chunk", import_views.upload_chunk, name="data-import-chunk"),
    path("data/<str:tref>/import/<str:job_id>", import_views.job_page, name="data-import-job"),
    path("data/<str:tref>/import/<str:job_id>/run", import_views.run_import, name="data-import-run"),
    path("data/<str:tref>/import/<str:job_id>/status", import_views.status, name="data-import-status"),
    path("data/<str:tref>/row/<str:pk>", views.row_page, name="data-row"),
    path("data/<str:tref>/row/<str:pk>/edit", views.edit_row, name="data-edit"),
    path("data/<str:tref>/row/<str:pk>/delete", views.delete_row, name="data-delete"),
    path("data/<str:tref>/row/<str:pk>/download/<int:position>", views.download, name="data-download"),
    path("data/<str:tref>/row/<str:pk>/value/<int:position>", views.full_value, name="data-value"),
]
