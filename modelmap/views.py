"""Pages of the model map: /models (cards, search, drift) and /er-diagram (the SVG diagram)."""

from __future__ import annotations

from typing import Any

from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache

from core import target
from core.exceptions import AppError
from core.pages import fill_url, fragment, pages_first, wait_url
from core.target import Target
from modelmap import erd as erdlib
from modelmap import positions, services

# ELK (elkjs from npm), built into static/build/ by `npm run build`; without it the page keeps the server's picture.
ELK_BUNDLE = "build/erd-elk.js"


def _on(request: HttpRequest) -> Target | None:
    """The request's target (resolved once per request); None when none is configured: the models
    still show, the database part says why not."""
    return target.for_request_or_none(request)


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value not in (None, "") else default
    except ValueError:
        return default


def _models_context(request: HttpRequest, data: dict[str, Any] | None) -> dict[str, Any]:
    query = request.GET.get("q", "")
    context: dict[str, Any] = {"data": data, "q": query, "sync": wait_url(request, "/models"),
                               "fill_body": fill_url(reverse("models-part"), request, keep=("q",))}
    if data is None:
        context["models_typical_ms"] = services.inspect_typical_ms(_on(request))  # "usually ~N s on this project"
        return context
    tables = {t["id"]: t for t in data["tables"]}
    cards = []
    for model in services.search(data["models"], query):
        words = [model["name"], model["table"] or ""] + [c["name"] for c in model["columns"]] + \
                [p["name"] for p in model.get("properties") or []] + [r["name"] for r in model["relationships"]]
        table = tables.get(model["table"] or "")
        cards.append({"model": model, "table": table, "search": " ".join(words).lower(),
                      "data_id": erdlib.data_id(table) if table else None})
    # Import/configuration errors name a module; property errors name a model's property.
    context.update(cards=cards, associations=[t for t in data["tables"] if not t["mapped"]],
                   import_errors=[e for e in data["errors"] if "property" not in e],
                   property_errors=[e for e in data["errors"] if "property" in e], total=len(data["models"]))
    return context


def models_page(request: HttpRequest) -> HttpResponse:
    """The model cards; the project's models (a child process) and drift fill in later when not cached."""
    if pages_first(request):
        data = services.model_map_cached(_on(request))
    else:
        data = services.model_map(force=request.GET.get("refresh") == "1", on=_on(request))
    return render(request, "modelmap/models.html", _models_context(request, data))


@never_cache
def models_part(request: HttpRequest) -> HttpResponse:
    """Fragment of /models: the count and the whole body, with drift (reads the models when not cached)."""
    return fragment(request, ["models-total", "models-body"],
                    lambda: ("modelmap/_models_part.html", _models_context(request, services.model_map(on=_on(request)))),
                    page="/models")


def erd_page(request: HttpRequest) -> HttpResponse:
    """The diagram drawn on the server (the no-JS picture); erd.js lays it out with ELK, adds zoom, drag, focus."""
    source = request.GET.get("source", "")
    focus = request.GET.get("focus", "").strip()
    depth = _int(request.GET.get("depth") or request.GET.get("hops"), 1)
    columns = request.GET.get("columns", "1") != "0"
    if source != "database" and pages_first(request) and services.inspect_cached(_on(request)) is None:
        # The diagram's script works on the whole page: wait for the models, then reload (fill.js).
        return render(request, "modelmap/erd_wait.html", {"fill_ready": reverse("er-diagram-ready"),
                                                           "sync": wait_url(request),
                                                           "models_typical_ms": services.inspect_typical_ms(_on(request))})
    graph = services.erd(source, focus, depth, on=_on(request))
    svg = erdlib.render_svg(graph, columns, role="group")
    # erd.js lays the diagram out with ELK and puts the tables this user dragged where they left them.
    ids = {t["id"] for t in graph["tables"]}
    graph["layout"] = {"saved": {k: v for k, v in positions.load(request.user).items() if k in ids}}
    return render(request, "modelmap/erd.html", {
        "graph": graph, "svg": svg, "source": graph["source"], "focus": graph.get("focus", ""),
        "depth": depth, "columns": columns, "table_count": len(graph["tables"]),
        "edge_count": len(graph["relationships"]),
        "export_query": request.GET.urlencode(), "elk": bool(finders.find(ELK_BUNDLE)),
    })


@never_cache
def erd_ready(request: HttpRequest) -> HttpResponse:
    """Fragment of /er-diagram while the models are read: answers once they are (the page then reloads)."""
    def build() -> tuple[str, dict[str, Any]]:
        inspection = services.inspect_project(on=_on(request))
        err = inspection.get("runner_error")
        if err:
            raise AppError(f"The project's models could not be read: {err['message']}", code="runner_failed",
                           status=502, hint=f"{err['hint']} The diagram of the database itself: /er-diagram?source=database.")
        return "modelmap/_erd_ready.html", {}

    return fragment(request, ["erd-wait"], build, page="/er-diagram")
