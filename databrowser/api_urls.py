"""API routes of `databrowser` (mounted under /api/). ``{tref}``: schema.table as one path segment."""

from django.urls import path

from databrowser import api

urlpatterns = [
    path("tables", api.TablesView.as_view(), name="api-tables"),
    path("tables/<str:tref>/schema", api.TableSchemaView.as_view(), name="api-table-schema"),
    path("tables/<str:tref>/columns", api.TableColumnsView.as_view(), name="api-table-columns"),
    path("tables/<str:tref>/data", api.TableDataView.as_view(), name="api-table-data"),
    path("tables/<str:tref>/rows", api.RowsView.as_view(), name="api-table-rows"),
    path("tables/<str:tref>/rows/<str:pk>", api.RowView.as_view(), name="api-table-row"),
    path("tables/<str:tref>/bulk-update", api.BulkUpdateView.as_view(), name="api-table-bulk-update"),
    path("tables/<str:tref>/export", api.ExportView.as_view(), name="api-table-export"),
    path("tables/<str:tref>/import", api.ImportView.as_view(), name="api-table-import"),
    path("tables/<str:tref>/import/chunks", api.ImportChunkView.as_view(), name="api-table-import-chunks"),
    path("tables/<str:tref>/import/<str:job_id>", api.ImportJobView.as_view(), name="api-table-import-job"),
    path("tables/<str:tref>/import/<str:job_id>/run", api.ImportRunView.as_view(), name="api-table-import-run"),
]
