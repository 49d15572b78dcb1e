"""Pages of the model map: /models (cards, search, drift) and /er-diagram (the SVG diagram)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from modelmap import erd as erdlib
from modelmap import positions, services


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value not in (None, "") else default
    except ValueError:
        return default


def models_page(request: HttpRequest) -> HttpResponse:
    data = services.model_map(force=request.GET.get("refresh") == "1")
    query = request.GET.get("q", "")
    tables = {t["id"]: t for t in data["tables"]}
    cards = []
    for model in services.search(data["models"], query):
        words = [model["name"], model["table"] or ""] + [c["name"] for c in model["columns"]] + \
                [p["name"] for p in model.get("properties") or []] + [r["name"] for r in model["relationships"]]
        table = tables.get(model["table"] or "")
        cards.append({"model": model, "table": table, "search": " ".join(words).lower(),
                      "data_id": erdlib.data_id(table) if table else None})
    associations = [t for t in data["tables"] if not t["mapped"]]
    # Import/configuration errors name a module; property errors name a model's property.
    import_errors = [e for e in data["errors"] if "property" not in e]
    property_errors = [e for e in data["errors"] if "property" in e]
    return render(request, "modelmap/models.html", {
        "data": data, "cards": cards, "q": query, "associations": associations,
        "import_errors": import_errors, "property_errors": property_errors,
        "total": len(data["models"]),
    })


def erd_page(request: HttpRequest) -> HttpResponse:
    """The diagram drawn on the server (with the user's saved positions); erd.js adds zoom, drag, focus."""
    source = request.GET.get("source", "")
    focus = request.GET.get("focus", "").strip()
    depth = _int(request.GET.get("depth") or request.GET.get("hops"), 1)
    columns = request.GET.get("columns", "1") != "0"
    graph = services.erd(source, focus, depth)
    saved = positions.load(request.user)
    placed = erdlib.place(graph, columns, saved)
    svg = erdlib.render_svg(graph, columns, placed=placed, role="group")
    # The page's JSON carries the computed places too: "Reset layout" returns to them without a reload.
    graph["layout"] = {"computed": placed["computed"],
                       "saved": {k: v for k, v in saved.items() if k in placed["positions"]}}
    return render(request, "modelmap/erd.html", {
        "graph": graph, "svg": svg, "source": graph["source"], "focus": graph.get("focus", ""),
        "depth": depth, "columns": columns, "table_count": len(graph["tables"]),
        "edge_count": len(graph["relationships"]),
        "export_query": request.GET.urlencode(),
    })
