from django.apps import AppConfig


class ModelmapConfig(AppConfig):
    name = "modelmap"
    verbose_name = "Model map"
