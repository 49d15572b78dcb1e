/* /er-diagram comfort: the ELK layout (erd_layout.js, elkjs in a Web Worker), zoom/fit controls,
   a minimap, pan, drag tables (positions saved per user), focus on change, edge details, SVG/PNG
   export of what is on screen. The server drew a simple picture first (an inline SVG, shown without
   JavaScript); once ELK has answered, the tables move to ELK's places and the lines take its routes.
   No inline script. */
(function () {
  "use strict";
  var wrap = document.getElementById("erd-wrap");
  var svg = wrap && wrap.querySelector("svg.erd");
  var dataEl = document.getElementById("erd-data");
  var L = window.PgErdLayout;
  if (!svg || !dataEl || !L) return;
  var graph = JSON.parse(dataEl.textContent);
  var saved = (graph.layout && graph.layout.saved) || {};
  var HEADER_H = L.HEADER_H, ROW_H = L.ROW_H;
  var NS = "http://www.w3.org/2000/svg";
  var tables = {}, edges = {};
  graph.tables.forEach(function (t) { tables[t.id] = t; });
  graph.relationships.forEach(function (e) { edges[e.id] = e; });
  var statusEl = document.getElementById("erd-status");
  function say(text) { if (statusEl) statusEl.textContent = text; }

  /* --- node geometry: sizes as the server drew them; places from ELK, or the user's ---------- */
  var boxes = {}, computed = {}, routes = {}, elkDone = false;
  svg.querySelectorAll("g.node").forEach(function (g) {
    var id = g.dataset.table, rect = g.querySelector("rect.box");
    var m = /translate\(([-\d.]+),([-\d.]+)\)/.exec(g.getAttribute("transform") || "");
    var p = m ? { x: +m[1], y: +m[2] } : { x: 0, y: 0 };
    computed[id] = p;
    boxes[id] = { id: id, g: g, rect: rect, x: p.x, y: p.y, w: +rect.getAttribute("width"),
                  h: +rect.getAttribute("height"), fullH: +rect.getAttribute("height") };
  });
  var showColumns = !svg.classList.contains("no-columns");
  if (!showColumns) Object.keys(boxes).forEach(function (id) {
    var n = tables[id].columns.length; boxes[id].fullH = HEADER_H + (n ? n * ROW_H + 6 : 0);
  });
  function q(v) { return Math.round(v * 2) / 2; }
  function num(v) { return String(q(v) === 0 ? 0 : q(v)); }

  /* --- edges: ELK's route, or a simple one when either table was placed by hand -------------- */
  function simple(e) {
    var a = boxes[e.from], b = boxes[e.to];
    return L.simpleRoute(e, a, b, a.y + L.rowOffset(tables[e.from], e.columns, showColumns),
                         b.y + L.rowOffset(tables[e.to], e.ref_columns, showColumns));
  }
  function drawEdges() {
    svg.querySelectorAll("g.edge").forEach(function (g) {
      var e = edges[g.dataset.edge];
      if (!e) return;
      var r = (elkDone && !saved[e.from] && !saved[e.to] && routes[e.id]) || simple(e);
      var d = L.pathD(r.points);
      g.querySelectorAll("path").forEach(function (path) { path.setAttribute("d", d); });
      var text = g.querySelector("text"), bg = g.querySelector("rect.label-bg"), l = r.label;
      if (!l) { text.setAttribute("visibility", "hidden"); if (bg) bg.setAttribute("visibility", "hidden"); return; }
      text.removeAttribute("visibility"); text.removeAttribute("text-anchor");
      text.setAttribute("x", num(l.x + 4)); text.setAttribute("y", num(l.y + l.h - 4));
      if (bg) {
        bg.removeAttribute("visibility");
        bg.setAttribute("x", num(l.x)); bg.setAttribute("y", num(l.y)); bg.setAttribute("width", num(l.w)); bg.setAttribute("height", num(l.h));
      }
    });
  }
  var pending = false;
  function scheduleRedraw() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(function () { pending = false; drawEdges(); });
  }
  function moveBox(b, x, y) {
    b.x = x; b.y = y;
    b.g.setAttribute("transform", "translate(" + num(x) + "," + num(y) + ")");
  }

  /* --- the layout: ELK in its worker; the first answer replaces the server's picture ---------- */
  var elk = null, firstLayout = true;
  /* ELK takes seconds on a few hundred tables: its answer is kept for the tab (sessionStorage, keyed
     by the exact input), so a reload or a return to the same diagram is instant. The page itself is
     never cached (no-store), hence the tab's storage rather than localStorage. */
  function hash(text) {
    var h = 2166136261;
    for (var i = 0; i < text.length; i++) { h ^= text.charCodeAt(i); h = Math.imul(h, 16777619); }
    return (h >>> 0).toString(36) + text.length.toString(36);
  }
  function remember(key, value) {
    try {
      var keys = JSON.parse(sessionStorage.getItem("erd-layouts") || "[]").filter(function (k) { return k !== key; });
      keys.push(key);
      while (keys.length > 6) sessionStorage.removeItem(keys.shift());
      sessionStorage.setItem(key, JSON.stringify(value));
      sessionStorage.setItem("erd-layouts", JSON.stringify(keys));
    } catch (err) { /* storage full or disabled: the next visit lays out again */ }
  }
  function recall(key) {
    try { return JSON.parse(sessionStorage.getItem(key) || "null"); } catch (err) { return null; }
  }
  function runLayout() {
    if (!window.PgElk || !wrap.dataset.elkWorker) { finish(); return; }
    if (!elk) elk = new window.PgElk({ workerUrl: wrap.dataset.elkWorker });
    var sizes = {};
    Object.keys(boxes).forEach(function (id) { sizes[id] = { w: boxes[id].w, h: boxes[id].h }; });
    var input = L.elkGraph(graph, sizes, showColumns), key = "erd-layout-" + hash(JSON.stringify(input));
    var started = performance.now(), known = recall(key);
    delete wrap.dataset.ready;
    if (!known) {
      wrap.classList.add("laying-out");
      say("Laying out " + graph.tables.length + " tables…");
    }
    var job = known ? Promise.resolve(known) : elk.layout(input).then(function (result) {
      var r = L.readElk(result);
      remember(key, r);
      return r;
    });
    job.then(function (r) {
      wrap.dataset.layoutMs = String(Math.round(performance.now() - started));
      wrap.dataset.layout = known ? "remembered" : "elk";
      computed = r.positions; routes = r.routes; elkDone = true;
      Object.keys(boxes).forEach(function (id) {
        var p = saved[id] || computed[id];
        if (p) moveBox(boxes[id], p.x, p.y);
      });
      /* ELK places tables by their links, not by schema: the server's schema frames no longer apply
         (tables outside "public" carry the schema in their title). */
      svg.querySelectorAll(".schema-block, .schema-label").forEach(function (n) { n.remove(); });
      say("");
    }).catch(function (err) {
      say("The automatic layout failed (" + (err && err.message) + "): the server's picture is shown.");
    }).then(function () { drawEdges(); finish(); });
  }
  function finish() {
    wrap.classList.remove("laying-out");
    fit();
    if (firstLayout) {
      firstLayout = false;
      showMinimap(graph.tables.length > 8);
      if (graph.focus && boxes[graph.focus] && !graph.hops && graph.tables.length > 12) {
        /* Everything shown, one table highlighted: centre it at a readable size. */
        var fb = boxes[graph.focus];
        view.k = Math.max(view.k, 0.9);
        view.x = wrap.clientWidth / 2 - (fb.x + fb.w / 2) * view.k;
        view.y = wrap.clientHeight / 2 - (fb.y + fb.h / 2) * view.k;
        applyView();
      }
    } else if (mini && !mini.hidden) buildMinimap();
    wrap.dataset.ready = "1";
  }

  /* --- the view: a transform on g.viewport (screen = t + k * world) --------------------- */
  var viewport = svg.querySelector("g.viewport");
  var view = { k: 1, x: 0, y: 0 };
  var MIN_K = 0.1, MAX_K = 4, MAX_FIT = 2;
  wrap.classList.add("js");
  svg.removeAttribute("viewBox"); svg.removeAttribute("width"); svg.removeAttribute("height");
  var zoomLevel = document.getElementById("erd-zoom-level");
  function applyView() {
    viewport.setAttribute("transform", "translate(" + view.x.toFixed(1) + "," + view.y.toFixed(1) + ") scale(" + view.k.toFixed(4) + ")");
    if (zoomLevel) zoomLevel.textContent = Math.round(view.k * 100) + "%";
    updateMinimap();
  }
  function sizeWrap() {
    /* The canvas fills the window below the header: no dead space, no page scroll. */
    var top = wrap.getBoundingClientRect().top + window.scrollY;
    wrap.style.height = Math.max(320, window.innerHeight - top - 20) + "px";
  }
  function contentBox() {
    var ids = Object.keys(boxes);
    if (!ids.length) return { x: 0, y: 0, w: 100, h: 100 };
    var bb = viewport.getBBox();  /* nodes, edges and labels, in world units */
    return { x: bb.x, y: bb.y, w: Math.max(bb.width, 1), h: Math.max(bb.height, 1) };
  }
  function fit() {
    /* The floating controls take the top strip: the content fits below them. */
    var c = contentBox(), W = wrap.clientWidth, H = wrap.clientHeight, pad = 16;
    var top = controls && !controls.hidden ? controls.offsetTop + controls.offsetHeight + 8 : pad;
    view.k = Math.min(MAX_FIT, (W - 2 * pad) / c.w, (H - top - pad) / c.h);
    view.x = (W - c.w * view.k) / 2 - c.x * view.k;
    view.y = top + (H - top - pad - c.h * view.k) / 2 - c.y * view.k;
    applyView();
  }
  function zoomAt(factor, sx, sy) {
    var k = Math.min(MAX_K, Math.max(MIN_K, view.k * factor));
    view.x = sx - (sx - view.x) * (k / view.k);
    view.y = sy - (sy - view.y) * (k / view.k);
    view.k = k;
    applyView();
  }
  function zoomCentre(factor) { zoomAt(factor, wrap.clientWidth / 2, wrap.clientHeight / 2); }
  function actualSize() { zoomCentre(1 / view.k); }
  function toWorld(evt) {
    var r = svg.getBoundingClientRect();
    return { x: (evt.clientX - r.left - view.x) / view.k, y: (evt.clientY - r.top - view.y) / view.k };
  }
  svg.addEventListener("wheel", function (evt) {
    evt.preventDefault();
    var r = svg.getBoundingClientRect();
    zoomAt(evt.deltaY > 0 ? 1 / 1.15 : 1.15, evt.clientX - r.left, evt.clientY - r.top);
  }, { passive: false });

  var controls = document.getElementById("erd-controls");
  if (controls) controls.hidden = false;
  function on(id, fn) { var b = document.getElementById(id); if (b) b.addEventListener("click", fn); }
  on("erd-zoom-in", function () { zoomCentre(1.25); });
  on("erd-zoom-out", function () { zoomCentre(1 / 1.25); });
  on("erd-fit", fit);
  on("erd-actual", actualSize);
  document.addEventListener("keydown", function (e) {
    var tag = (e.target && e.target.tagName) || "";
    if (/INPUT|TEXTAREA|SELECT/.test(tag) || (e.target && e.target.isContentEditable)) return;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "+" || e.key === "=") { e.preventDefault(); zoomCentre(1.25); }
    else if (e.key === "-" || e.key === "_") { e.preventDefault(); zoomCentre(1 / 1.25); }
    else if (e.key === "0") { e.preventDefault(); fit(); }
  });

  /* --- minimap: every table as a block, the visible part as a frame; click or drag to go there --- */
  var mini = document.getElementById("erd-minimap"), miniSvg = null, miniFrame = null, miniBox = null;
  function buildMinimap() {
    if (!mini) return;
    mini.textContent = "";
    var c = contentBox(), m = 20;
    miniBox = { x: c.x - m, y: c.y - m, w: c.w + 2 * m, h: c.h + 2 * m };
    miniSvg = document.createElementNS(NS, "svg");
    miniSvg.setAttribute("viewBox", [miniBox.x, miniBox.y, miniBox.w, miniBox.h].join(" "));
    miniSvg.setAttribute("preserveAspectRatio", "xMidYMid meet");
    Object.keys(boxes).forEach(function (id) {
      var b = boxes[id], r = document.createElementNS(NS, "rect");
      r.setAttribute("x", b.x); r.setAttribute("y", b.y); r.setAttribute("width", b.w); r.setAttribute("height", b.h);
      r.setAttribute("class", "mini-node" + (id === graph.focus ? " focus" : ""));
      miniSvg.append(r);
    });
    miniFrame = document.createElementNS(NS, "rect");
    miniFrame.setAttribute("class", "mini-view");
    miniSvg.append(miniFrame);
    mini.append(miniSvg);
    updateMinimap();
  }
  function updateMinimap() {
    if (!miniFrame || mini.hidden) return;
    miniFrame.setAttribute("x", -view.x / view.k); miniFrame.setAttribute("y", -view.y / view.k);
    miniFrame.setAttribute("width", wrap.clientWidth / view.k); miniFrame.setAttribute("height", wrap.clientHeight / view.k);
  }
  function miniGo(evt) {
    var r = miniSvg.getBoundingClientRect();
    var s = Math.max(miniBox.w / r.width, miniBox.h / r.height);
    var ox = (r.width * s - miniBox.w) / 2, oy = (r.height * s - miniBox.h) / 2;
    var wx = miniBox.x + (evt.clientX - r.left) * s - ox, wy = miniBox.y + (evt.clientY - r.top) * s - oy;
    view.x = wrap.clientWidth / 2 - wx * view.k; view.y = wrap.clientHeight / 2 - wy * view.k;
    applyView();
  }
  var miniDrag = false;
  if (mini) {
    mini.addEventListener("mousedown", function (evt) { evt.preventDefault(); evt.stopPropagation(); miniDrag = true; miniGo(evt); });
    window.addEventListener("mousemove", function (evt) { if (miniDrag) miniGo(evt); });
    window.addEventListener("mouseup", function () { miniDrag = false; });
  }
  var mapButton = document.getElementById("erd-map");
  function showMinimap(on) {
    if (!mini) return;
    mini.hidden = !on;
    if (mapButton) mapButton.setAttribute("aria-pressed", on ? "true" : "false");
    if (on) buildMinimap();
  }
  on("erd-map", function () { showMinimap(mini.hidden); });

  /* --- saving positions (per user, internal DB) ----------------------------------------- */
  var csrfInput = document.querySelector("#erd-csrf [name=csrfmiddlewaretoken]");
  function api(method, body) {
    return fetch("/api/erd/positions", {
      method: method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfInput ? csrfInput.value : "" },
      body: body ? JSON.stringify(body) : undefined
    }).then(function (r) {
      if (!r.ok) return r.json().catch(function () { return {}; }).then(function (j) {
        throw new Error((j.error && j.error.message) || ("HTTP " + r.status));
      });
      return r.json();
    });
  }
  function failed(err) { if (window.pgadminToast) window.pgadminToast("Layout not saved: " + err.message, "error"); }
  function savePosition(id) {
    var b = boxes[id], body = {};
    body[id] = { x: q(b.x), y: q(b.y) };
    saved[id] = body[id];
    wrap.dataset.saving = "1";
    api("PUT", body).then(function () { say(id + " moved; position saved."); })
      .catch(failed).then(function () { delete wrap.dataset.saving; });
  }
  on("erd-reset", function () {
    Object.keys(boxes).forEach(function (id) {
      var p = computed[id];
      if (p) moveBox(boxes[id], p.x, p.y);
    });
    saved = {};
    drawEdges();
    fit();
    if (mini && !mini.hidden) buildMinimap();
    wrap.dataset.saving = "1";
    api("DELETE").then(function () { say("Layout reset to the automatic positions."); })
      .catch(failed).then(function () { delete wrap.dataset.saving; });
  });

  /* --- drag: pan the canvas, or move a table ------------------------------------------ */
  var drag = null, moved = false;
  svg.addEventListener("mousedown", function (evt) {
    if (evt.button !== 0) return;
    var node = evt.target.closest("g.node");
    moved = false;
    if (evt.target.closest(".focus-btn")) return;
    if (node && !wrap.classList.contains("laying-out")) {
      var p = toWorld(evt), b = boxes[node.dataset.table];
      drag = { kind: "node", id: b.id, dx: p.x - b.x, dy: p.y - b.y };
    } else if (!evt.target.closest("g.edge")) {
      drag = { kind: "pan", x: evt.clientX, y: evt.clientY, vx: view.x, vy: view.y };
      wrap.classList.add("panning");
    }
    evt.preventDefault();
  });
  window.addEventListener("mousemove", function (evt) {
    if (!drag) return;
    if (drag.kind === "pan") {
      var dx = evt.clientX - drag.x, dy = evt.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) moved = true;
      view.x = drag.vx + dx; view.y = drag.vy + dy;
      applyView();
      return;
    }
    var p = toWorld(evt), b = boxes[drag.id];
    var nx = p.x - drag.dx, ny = p.y - drag.dy;
    if (!moved && Math.abs(nx - b.x) + Math.abs(ny - b.y) <= 2) return;
    moved = true;
    moveBox(b, nx, ny);
    scheduleRedraw();
  });
  window.addEventListener("mouseup", function () {
    if (drag && drag.kind === "node" && moved) {
      var b = boxes[drag.id];
      moveBox(b, q(b.x), q(b.y));  /* the saved (half-pixel) place, so a reload puts it exactly here */
      savePosition(drag.id); drawEdges();
      if (mini && !mini.hidden) buildMinimap();
    }
    drag = null; wrap.classList.remove("panning");
  });
  /* A click that ended a drag must not follow the table's link. */
  svg.addEventListener("click", function (evt) {
    if (moved) { evt.preventDefault(); moved = false; return; }
    var edge = evt.target.closest("g.edge");
    if (edge) { evt.preventDefault(); showEdge(edge); }
  });

  /* --- focus: the picker, the depth and each table's ◎ apply at once (the URL is shareable) --- */
  var form = document.getElementById("erd-form");
  var focusSel = document.getElementById("erd-focus"), depthSel = document.getElementById("erd-depth");
  var sourceSel = document.getElementById("erd-source"), apply = document.getElementById("erd-apply");
  function urlFor(focusId) {
    var params = new URLSearchParams(location.search);
    params.delete("hops");
    if (sourceSel && sourceSel.value) params.set("source", sourceSel.value);
    if (focusId) { params.set("focus", focusId); params.set("depth", depthSel ? depthSel.value : "1"); }
    else { params.delete("focus"); params.delete("depth"); }
    var hide = document.getElementById("erd-hide-columns");
    if (hide && hide.checked) params.set("columns", "0"); else params.delete("columns");
    return "/er-diagram?" + params.toString();
  }
  if (apply) apply.hidden = true;
  if (focusSel) focusSel.addEventListener("change", function () { location.assign(urlFor(focusSel.value)); });
  if (depthSel) depthSel.addEventListener("change", function () { if (focusSel && focusSel.value) location.assign(urlFor(focusSel.value)); });
  if (sourceSel) sourceSel.addEventListener("change", function () { location.assign(urlFor(focusSel ? focusSel.value : "")); });
  Object.keys(boxes).forEach(function (id) {
    var b = boxes[id], label = tables[id].schema === "public" ? tables[id].name : id;
    var a = document.createElementNS(NS, "a");
    a.setAttribute("class", "focus-btn ui-only");
    a.setAttribute("href", urlFor(id));
    a.setAttribute("aria-label", "Focus on " + label);
    var title = document.createElementNS(NS, "title"); title.textContent = "Focus on " + label;
    var circle = document.createElementNS(NS, "circle");
    circle.setAttribute("cx", b.w - 13); circle.setAttribute("cy", 13); circle.setAttribute("r", 8);
    var dot = document.createElementNS(NS, "circle");
    dot.setAttribute("class", "dot"); dot.setAttribute("cx", b.w - 13); dot.setAttribute("cy", 13); dot.setAttribute("r", 3);
    a.append(title, circle, dot);
    b.g.append(a);
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
        b.h = showColumns ? b.fullH : HEADER_H;
        b.rect.setAttribute("height", b.h);
      });
      runLayout();
      history.replaceState(null, "", urlFor(focusSel ? focusSel.value : ""));
    });
  } else if (hide) {
    hide.addEventListener("change", function () { location.assign(urlFor(focusSel ? focusSel.value : "")); });
  }

  /* --- exports: the SVG exactly as on screen (moved tables included), and a PNG ---------- */
  function currentSvgText() {
    var copy = svg.cloneNode(true);
    copy.querySelectorAll(".ui-only").forEach(function (n) { n.remove(); });
    var vp = copy.querySelector("g.viewport");
    vp.removeAttribute("transform");
    var c = contentBox(), m = 20;
    var box = [Math.floor(c.x - m), Math.floor(c.y - m), Math.ceil(c.w + 2 * m), Math.ceil(c.h + 2 * m)];
    copy.setAttribute("viewBox", box.join(" "));
    copy.setAttribute("width", box[2]); copy.setAttribute("height", box[3]);
    copy.setAttribute("xmlns", NS);
    copy.setAttribute("role", "img");
    return { text: new XMLSerializer().serializeToString(copy), w: box[2], h: box[3] };
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
    download(new Blob([currentSvgText().text], { type: "image/svg+xml" }), "er-diagram.svg");
  });
  var pngButton = document.getElementById("erd-export-png");
  pngButton.hidden = false;
  pngButton.addEventListener("click", function () {
    var img = new Image(), scale = 2, current = currentSvgText();
    img.onload = function () {
      var canvas = document.createElement("canvas");
      canvas.width = current.w * scale; canvas.height = current.h * scale;
      var ctx = canvas.getContext("2d");
      ctx.fillStyle = "#ffffff"; ctx.fillRect(0, 0, canvas.width, canvas.height);
      ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
      canvas.toBlob(function (blob) { download(blob, "er-diagram.png"); }, "image/png");
    };
    img.onerror = function () { window.pgadminToast && window.pgadminToast("PNG export failed: the browser could not draw the SVG.", "error"); };
    img.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(current.text);
  });

  /* --- first view: fill the window, fit the server's picture, then lay it out with ELK -------- */
  sizeWrap();
  fit();
  runLayout();
  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () { sizeWrap(); fit(); }, 150);
  });
})();
