from django.apps import AppConfig


class DatabrowserConfig(AppConfig):
    name = "databrowser"
    verbose_name = "Data browser"
