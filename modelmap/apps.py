"""App config of the model map: it offers the files of its model import to others (``core.deps``)."""

from django.apps import AppConfig

from core import deps


def _model_files() -> deps.Deps | None:
    """The files the cached model import loaded (the migrations' drift panel builds on the same files)."""
    from modelmap.services import model_deps

    return model_deps()


class ModelmapConfig(AppConfig):
    name = "modelmap"
    verbose_name = "Model map"

    def ready(self) -> None:
        deps.provide_model_files(_model_files)
