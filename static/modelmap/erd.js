/* /er-diagram comfort: pan/zoom, drag tables (edges follow), hide columns, edge details, PNG export.
   The server already drew the diagram (an inline SVG); this file only moves what is there. The edge
   geometry below mirrors modelmap/erd.py (anchor_y, edge_path). No third-party code. */
(function () {
  "use strict";
  var wrap = document.getElementById("erd-wrap");
  var svg = wrap && wrap.querySelector("svg.erd");
  var dataEl = document.getElementById("erd-data");
  if (!svg || !dataEl) return;
  var graph = JSON.parse(dataEl.textContent);
  var HEADER_H = 26, ROW_H = 18;
  var tables = {}, edges = {};
  graph.tables.forEach(function (t) { tables[t.id] = t; });
  graph.relationships.forEach(function (e) { edges[e.id] = e; });

  /* --- node geometry ------------------------------------------------------------------ */
  var boxes = {};
  svg.querySelectorAll("g.node").forEach(function (g) {
    var m = /translate\(([-\d.]+),([-\d.]+)\)/.exec(g.getAttribute("transform"));
    var rect = g.querySelector("rect.box");
    boxes[g.dataset.table] = { g: g, rect: rect, x: +m[1], y: +m[2], w: +rect.getAttribute("width"),
                               fullH: +rect.getAttribute("height") };
  });
  var showColumns = !svg.classList.contains("no-columns");

  function anchorY(id, column) {
    var b = boxes[id], names = tables[id].columns.map(function (c) { return c.name; });
    var i = names.indexOf(column);
    if (!showColumns || i < 0 || !b.g.querySelector(".col")) return b.y + HEADER_H / 2;
    return b.y + HEADER_H + i * ROW_H + ROW_H / 2 + 3;
  }
  function edgePath(a, ay, b, by, selfLoop) {
    if (selfLoop) {
      var x = a.x + a.w;
      return { d: "M" + x + "," + ay + " C" + (x + 50) + "," + ay + " " + (x + 50) + "," + (by - 30) + " " + x + "," + (by - 8),
               lx: x + 40, ly: (ay + by) / 2 - 10 };
    }
    var x1, x2, s1, s2;
    if (a.x > b.x + b.w) { x1 = a.x; x2 = b.x + b.w; s1 = -1; s2 = 1; }
    else if (a.x + a.w < b.x) { x1 = a.x + a.w; x2 = b.x; s1 = 1; s2 = -1; }
    else { x1 = a.x + a.w; x2 = b.x + b.w; s1 = 1; s2 = 1; }
    var bend = Math.max(40, Math.abs(x2 - x1) / 2), c1x = x1 + s1 * bend, c2x = x2 + s2 * bend;
    var t = 0.5, k0 = Math.pow(1 - t, 3), k1 = 3 * (1 - t) * (1 - t) * t, k2 = 3 * (1 - t) * t * t, k3 = t * t * t;
    return { d: "M" + x1 + "," + ay + " C" + c1x + "," + ay + " " + c2x + "," + by + " " + x2 + "," + by,
             lx: k0 * x1 + k1 * c1x + k2 * c2x + k3 * x2, ly: k0 * ay + k1 * ay + k2 * by + k3 * by };
  }
  function redrawEdges(onlyFor) {
    svg.querySelectorAll("g.edge").forEach(function (g) {
      var from = g.dataset.from, to = g.dataset.to;
      if (onlyFor && from !== onlyFor && to !== onlyFor) return;
      var p = edgePath(boxes[from], anchorY(from, g.dataset.fromCol), boxes[to], anchorY(to, g.dataset.toCol), from === to);
      g.querySelectorAll("path").forEach(function (path) { path.setAttribute("d", p.d); });
      var text = g.querySelector("text");
      text.setAttribute("x", p.lx.toFixed(1)); text.setAttribute("y", (p.ly - 4).toFixed(1));
    });
  }

  /* --- pan and zoom through the viewBox ------------------------------------------------ */
  var vb = svg.getAttribute("viewBox").split(/\s+/).map(Number);
  var full = { w: vb[2], h: vb[3] };
  wrap.classList.add("js");
  svg.removeAttribute("width"); svg.removeAttribute("height");
  function fit() {
    /* The whole diagram, never enlarged past 1:1 (a five-table project stays readable). */
    vb = [0, 0, Math.max(full.w, wrap.clientWidth), Math.max(full.h, wrap.clientHeight)];
    setViewBox();
  }
  function setViewBox() { svg.setAttribute("viewBox", vb.map(function (v) { return v.toFixed(1); }).join(" ")); }
  function toSvg(evt) {
    var r = svg.getBoundingClientRect();
    var scale = Math.max(vb[2] / r.width, vb[3] / r.height);
    var offX = (r.width * scale - vb[2]) / 2, offY = (r.height * scale - vb[3]) / 2;
    return { x: vb[0] + (evt.clientX - r.left) * scale - offX, y: vb[1] + (evt.clientY - r.top) * scale - offY, scale: scale };
  }
  svg.addEventListener("wheel", function (evt) {
    evt.preventDefault();
    var p = toSvg(evt), k = evt.deltaY > 0 ? 1.15 : 1 / 1.15;
    vb = [p.x - (p.x - vb[0]) * k, p.y - (p.y - vb[1]) * k, vb[2] * k, vb[3] * k];
    setViewBox();
  }, { passive: false });

  var drag = null, moved = false;
  svg.addEventListener("mousedown", function (evt) {
    if (evt.button !== 0) return;
    var node = evt.target.closest("g.node");
    var p = toSvg(evt);
    moved = false;
    if (node) drag = { kind: "node", id: node.dataset.table, dx: p.x - boxes[node.dataset.table].x, dy: p.y - boxes[node.dataset.table].y };
    else if (!evt.target.closest("g.edge")) { drag = { kind: "pan", x: evt.clientX, y: evt.clientY, vb: vb.slice(), scale: p.scale }; wrap.classList.add("panning"); }
    evt.preventDefault();
  });
  window.addEventListener("mousemove", function (evt) {
    if (!drag) return;
    if (drag.kind === "pan") {
      var dx = evt.clientX - drag.x, dy = evt.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) moved = true;
      vb = [drag.vb[0] - dx * drag.scale, drag.vb[1] - dy * drag.scale, vb[2], vb[3]];
      setViewBox();
      return;
    }
    var p = toSvg(evt), b = boxes[drag.id];
    var nx = p.x - drag.dx, ny = p.y - drag.dy;
    if (Math.abs(nx - b.x) + Math.abs(ny - b.y) > 2) moved = true;
    if (!moved) return;
    b.x = nx; b.y = ny;
    b.g.setAttribute("transform", "translate(" + nx.toFixed(1) + "," + ny.toFixed(1) + ")");
    redrawEdges(drag.id);
  });
  window.addEventListener("mouseup", function () { drag = null; wrap.classList.remove("panning"); });
  /* A click that ended a drag must not follow the table's link. */
  svg.addEventListener("click", function (evt) {
    if (moved) { evt.preventDefault(); moved = false; return; }
    var edge = evt.target.closest("g.edge");
    if (edge) { evt.preventDefault(); showEdge(edge); }
  });

  /* --- edge details -------------------------------------------------------------------- */
  var panel = document.getElementById("erd-panel"), body = document.getElementById("erd-panel-body");
  function el(tag, text, cls) { var e = document.createElement(tag); if (text) e.textContent = text; if (cls) e.className = cls; return e; }
  function showEdge(g) {
    svg.querySelectorAll("g.edge.selected").forEach(function (s) { s.classList.remove("selected"); });
    g.classList.add("selected");
    var e = edges[g.dataset.edge];
    body.textContent = "";
    body.append(el("h2", e.from + " → " + e.to));
    var dl = el("dl");
    [["Foreign key", e.from + "(" + e.columns.join(", ") + ") → " + e.to + "(" + e.ref_columns.join(", ") + ")"],
     ["Constraint", e.constraint || "(unnamed)"], ["Cardinality", e.cardinality],
     ["ON DELETE", e.ondelete || "NO ACTION"], ["ON UPDATE", e.onupdate || "NO ACTION"]].forEach(function (row) {
      dl.append(el("dt", row[0]));
      dl.append(el("dd", row[1], row[0] === "ON DELETE" && row[1] === "CASCADE" ? "rule cascade" : ""));
    });
    body.append(dl);
    if (e.relationships.length) {
      body.append(el("h3", "ORM relationships"));
      var ul = el("ul");
      e.relationships.forEach(function (r) {
        ul.append(el("li", r.model + "." + r.name + " → " + r.target + " (" + r.direction + (r.secondary ? " via " + r.secondary : "") +
                           "), cascade: " + r.cascade + (r.passive_deletes ? ", passive_deletes" : "")));
      });
      body.append(ul);
    } else {
      body.append(el("p", "No ORM relationship uses this foreign key.", "muted"));
    }
    panel.hidden = false;
  }
  document.getElementById("erd-panel-close").addEventListener("click", function () { panel.hidden = true; });

  /* --- hide columns without a reload ---------------------------------------------------- */
  var hide = document.getElementById("erd-hide-columns");
  if (hide && showColumns) {
    hide.addEventListener("change", function () {
      showColumns = !hide.checked;
      svg.classList.toggle("no-columns", !showColumns);
      Object.keys(boxes).forEach(function (id) {
        var b = boxes[id];
        b.rect.setAttribute("height", showColumns ? b.fullH : HEADER_H);
      });
      redrawEdges(null);
    });
  }
  var focus = document.getElementById("erd-focus");
  if (focus) focus.addEventListener("change", function () { document.getElementById("erd-form").submit(); });

  /* --- exports: the SVG as it is now (moved tables included), and a PNG drawn on a canvas --- */
  function currentSvgText() {
    var copy = svg.cloneNode(true);
    copy.setAttribute("viewBox", "0 0 " + full.w + " " + full.h);
    copy.setAttribute("width", full.w); copy.setAttribute("height", full.h);
    return new XMLSerializer().serializeToString(copy);
  }
  function download(blob, name) {
    var a = document.createElement("a");
    a.href = URL.createObjectURL(blob); a.download = name;
    document.body.append(a); a.click(); a.remove();
    setTimeout(function () { URL.revokeObjectURL(a.href); }, 1000);
  }
  var svgLink = document.getElementById("erd-export-svg");
  svgLink.addEventListener("click", function (evt) {
    evt.preventDefault();
    download(new Blob([currentSvgText()], { type: "image/svg+xml" }), "er-diagram.svg");
  });
  var pngButton = document.getElementById("erd-export-png");
  pngButton.hidden = false;
  pngButton.addEventListener("click", function () {
    var img = new Image(), scale = 2;
    img.onload = function () {
      var canvas = document.createElement("canvas");
      canvas.width = full.w * scale; canvas.height = full.h * scale;
      var ctx = canvas.getContext("2d");
      ctx.fillStyle = "#ffffff"; ctx.fillRect(0, 0, canvas.width, canvas.height);
      ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
      canvas.toBlob(function (blob) { download(blob, "er-diagram.png"); }, "image/png");
    };
    img.onerror = function () { window.pgadminToast && window.pgadminToast("PNG export failed: the browser could not draw the SVG.", "error"); };
    img.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(currentSvgText());
  });

  fit();
  /* Focused table: centre it. */
  if (graph.focus && boxes[graph.focus]) {
    var b = boxes[graph.focus];
    vb[0] = b.x + b.w / 2 - vb[2] / 2; vb[1] = b.y + b.fullH / 2 - vb[3] / 2;
    if (graph.tables.length > 12) setViewBox();
  }
})();
