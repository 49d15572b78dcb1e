from django.apps import AppConfig


class MigrationsUiConfig(AppConfig):
    name = "migrations_ui"
    verbose_name = "Migrations"
