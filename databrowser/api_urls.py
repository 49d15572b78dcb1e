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
    path("tables/<str:tref>/export", api.ExportView.as_view(), name="api-table-export"),
]
