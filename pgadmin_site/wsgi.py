"""WSGI entry point (the tool is served by Daphne over ASGI; this is for WSGI-only hosts)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pgadmin_site.settings")
application = get_wsgi_application()
