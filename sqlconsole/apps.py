from django.apps import AppConfig


class SqlconsoleConfig(AppConfig):
    name = "sqlconsole"
    verbose_name = "SQL console"
