"""ASGI application: Django for HTTP, Channels for the authenticated WebSocket routes.

Every connection passes ``TrustedProxyMiddleware`` (client address and X-Forwarded-* headers as
PGADMIN_TRUSTED_PROXIES allows) and every WebSocket ``SameOriginValidator`` (Origin = ours,
port included). Each app may add a ``routing.py`` with ``websocket_urlpatterns``; they are collected here.
"""

import importlib
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pgadmin_site.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs the app registry)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from core.consumers import SameOriginValidator  # noqa: E402
from pgadmin_site.proxies import TrustedProxyMiddleware  # noqa: E402


def _websocket_routes() -> list:
    routes: list = []
    for app in ("core", "migrations_ui", "databrowser", "modelmap", "sqlconsole"):
        try:
            module = importlib.import_module(f"{app}.routing")
        except ModuleNotFoundError as exc:
            if exc.name != f"{app}.routing":
                raise
            continue
        routes.extend(module.websocket_urlpatterns)
    return routes


# Proxy headers count only from PGADMIN_TRUSTED_PROXIES (Daphne runs without --proxy-headers);
# a WebSocket must come from the exact origin the tool is served on (scheme, host and port).
application = TrustedProxyMiddleware(ProtocolTypeRouter({
    "http": django_asgi_app,
    "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(_websocket_routes()))),
}))
