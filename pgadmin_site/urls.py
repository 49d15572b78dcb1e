"""URL map: each app owns its pages (``app.urls``) and its API (``app.api_urls`` under /api/)."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from core.favicon import favicon

handler404 = "core.views.not_found"
handler400 = "core.views.bad_request"

urlpatterns = [
    path("favicon.ico", favicon, name="favicon"),
    path("api/schema", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/", include("core.api_urls")),
    path("api/", include("migrations_ui.api_urls")),
    path("api/", include("databrowser.api_urls")),
    path("api/", include("modelmap.api_urls")),
    path("api/", include("sqlconsole.api_urls")),
    path("", include("core.urls")),
    path("", include("migrations_ui.urls")),
    path("", include("databrowser.urls")),
    path("", include("modelmap.urls")),
    path("", include("sqlconsole.urls")),
]
