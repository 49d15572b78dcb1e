/* The ER diagram's geometry in the browser, on ELK (elkjs from npm, see modelmap/frontend/elk.js).

   elkGraph() describes the tables to ELK's layered algorithm: one node per table, sized as the
   server drew it (header + one row per column); one port per foreign-key end, fixed on the row of
   the key column(s) — the FK side on the table's west edge, the referenced key on the east edge of
   the referenced table — so edges spread over the key columns instead of meeting in one point.
   Ports that share a row are spread a few pixels apart. Edges run referenced → referencing (parents
   left of their children), are routed ORTHOGONAL and carry their label ("N:1 · RESTRICT"), which
   ELK places beside the line. readElk() turns ELK's answer into positions and routes.

   A table the user dragged keeps its place; only the lines that touch it are re-routed, by
   simpleRoute(): out of the key row, one vertical run, into the other key row, with the label
   beside the first stretch on the side away from the vertical run. Nothing here exists in Python. */
(function () {
  "use strict";
  var HEADER_H = 26, ROW_H = 18, LABEL_CHAR_W = 6.7, LABEL_H = 15, SPREAD = 16, RADIUS = 6;

  function labelText(e) { return e.cardinality + (e.ondelete ? " · " + e.ondelete : ""); }
  function labelWidth(text) { return Math.round(text.length * LABEL_CHAR_W + 8); }

  /* y of the middle of the key rows (a composite key spans several), relative to the table's top. */
  function rowOffset(node, cols, showColumns) {
    var names = node.columns.map(function (c) { return c.name; });
    var rows = cols.map(function (c) { return names.indexOf(c); }).filter(function (i) { return i >= 0; });
    if (!showColumns || !rows.length) return HEADER_H / 2;
    var sum = 0; rows.forEach(function (r) { sum += r; });
    return HEADER_H + (sum / rows.length) * ROW_H + ROW_H / 2 + 3;
  }

  /* Several ends on one row and side: offsets spread over the row, centred. */
  function spread(ends) {
    var groups = {}, out = {};
    ends.forEach(function (end) { (groups[end.key] = groups[end.key] || []).push(end); });
    Object.keys(groups).forEach(function (k) {
      var list = groups[k], n = list.length, step = n > 1 ? Math.min(8, SPREAD / (n - 1)) : 0;
      list.forEach(function (end, i) { out[end.port] = n > 1 ? (i - (n - 1) / 2) * step : 0; });
    });
    return out;
  }

  /* The longest chain of foreign keys (cycles cut): how many layers the layered layout will need. */
  function depth(graph) {
    var parents = {}, memo = {}, best = 0;
    graph.tables.forEach(function (t) { parents[t.id] = []; });
    graph.relationships.forEach(function (e) { if (e.from !== e.to && parents[e.from]) parents[e.from].push(e.to); });
    function visit(id) {
      if (memo[id] !== undefined) return memo[id];
      memo[id] = 0;  /* on the stack: a cycle ends here */
      var d = 0;
      (parents[id] || []).forEach(function (p) { d = Math.max(d, 1 + visit(p)); });
      return (memo[id] = d);
    }
    graph.tables.forEach(function (t) { best = Math.max(best, visit(t.id)); });
    return best;
  }

  function elkGraph(graph, sizes, showColumns) {
    var tables = {}, ports = {}, ends = [];
    graph.tables.forEach(function (t) { tables[t.id] = t; ports[t.id] = []; });
    graph.relationships.forEach(function (e) {
      var pk = rowOffset(tables[e.to], e.ref_columns, showColumns), fk = rowOffset(tables[e.from], e.columns, showColumns);
      ends.push({ port: e.id + ":pk", table: e.to, side: "EAST", y: pk, key: e.to + "|E|" + pk });
      ends.push({ port: e.id + ":fk", table: e.from, side: "WEST", y: fk, key: e.from + "|W|" + fk });
    });
    var offset = spread(ends);
    ends.forEach(function (end) {
      ports[end.table].push({ id: end.port, width: 0, height: 0, x: end.side === "EAST" ? sizes[end.table].w : 0,
                              y: end.y + offset[end.port], layoutOptions: { "elk.port.side": end.side } });
    });
    /* Measured on 220 tables (bench/modelmap_bench.py --browser): ELK's defaults take seconds there,
       so a big diagram gets one crossing-minimisation pass, the simple node placer and its labels at
       the FK end of each line (ELK's centre labels become extra nodes: 3x the time), and a deep one
       (long FK chains: one layer per link) is wrapped into rows instead of a ribbon. */
    var big = graph.tables.length > 60, deep = depth(graph) > 14;
    return {
      id: "erd",
      layoutOptions: {
        "elk.algorithm": "layered", "elk.direction": "RIGHT", "elk.edgeRouting": "ORTHOGONAL",
        "elk.json.shapeCoords": "ROOT", "elk.json.edgeCoords": "ROOT",
        "elk.spacing.nodeNode": "28", "elk.layered.spacing.nodeNodeBetweenLayers": "70",
        "elk.layered.spacing.edgeNodeBetweenLayers": "18", "elk.spacing.edgeEdge": "8",
        "elk.layered.spacing.edgeEdgeBetweenLayers": "8", "elk.spacing.edgeLabel": "4",
        "elk.spacing.componentComponent": "50", "elk.aspectRatio": "1.6",
        "elk.layered.thoroughness": big ? "1" : "7",
        "elk.layered.nodePlacement.strategy": big ? "SIMPLE" : "BRANDES_KOEPF",
        "elk.layered.wrapping.strategy": deep ? "MULTI_EDGE" : "OFF"
      },
      children: graph.tables.map(function (t) {
        return { id: t.id, width: sizes[t.id].w, height: sizes[t.id].h, ports: ports[t.id],
                 layoutOptions: { "elk.portConstraints": "FIXED_POS" } };
      }),
      edges: graph.relationships.map(function (e) {
        var text = labelText(e);
        return { id: e.id, sources: [e.id + ":pk"], targets: [e.id + ":fk"],
                 labels: [{ text: text, width: labelWidth(text), height: LABEL_H,
                            layoutOptions: { "elk.edgeLabels.placement": big ? "HEAD" : "CENTER" } }] };
      })
    };
  }

  /* ELK's answer → {positions: {table: {x, y}}, routes: {edge: {points, label}}}; each route runs from
     the FK end to the referenced key (the arrow end), i.e. reversed from ELK's direction. */
  function readElk(result) {
    var positions = {}, routes = {};
    (result.children || []).forEach(function (n) { positions[n.id] = { x: n.x, y: n.y }; });
    (result.edges || []).forEach(function (e) {
      var s = e.sections && e.sections[0];
      if (!s) return;
      var points = [s.startPoint].concat(s.bendPoints || [], [s.endPoint]).map(function (p) { return [p.x, p.y]; });
      points.reverse();
      var l = e.labels && e.labels[0];
      routes[e.id] = { points: points, label: l ? { x: l.x, y: l.y, w: l.width, h: l.height } : null };
    });
    return { positions: positions, routes: routes, width: result.width, height: result.height };
  }

  /* A line for an edge whose table was moved by hand: a = referencing box, b = referenced box
     ({x, y, w, h}), ay/by = absolute y of the key rows. */
  function simpleRoute(e, a, b, ay, by) {
    var x1, x2, cx;
    if (a.x >= b.x + b.w + 24) { x1 = a.x; x2 = b.x + b.w; cx = (x1 + x2) / 2; }
    else if (a.x + a.w + 24 <= b.x) { x1 = a.x + a.w; x2 = b.x; cx = (x1 + x2) / 2; }
    else { x1 = a.x + a.w; x2 = b.x + b.w; cx = Math.max(x1, x2) + 24; }
    var points = [[x1, ay], [cx, ay], [cx, by], [x2, by]];
    var text = labelText(e), w = labelWidth(text), going = cx >= x1 ? 1 : -1;
    var lx = going > 0 ? x1 + 4 : x1 - 4 - w;
    /* The vertical run leaves downwards: the label goes above the line (and below when it rises). */
    var ly = by >= ay ? ay - LABEL_H - 4 : ay + 4;
    return { points: points, label: { x: lx, y: ly, w: w, h: LABEL_H } };
  }

  function fmt(v) { return String(Math.round(v * 10) / 10); }

  /* An orthogonal polyline with rounded corners. */
  function pathD(points) {
    var pts = points.filter(function (p, i) {
      return i === 0 || Math.abs(p[0] - points[i - 1][0]) + Math.abs(p[1] - points[i - 1][1]) > 0.01;
    });
    var d = "M" + fmt(pts[0][0]) + "," + fmt(pts[0][1]);
    for (var i = 1; i < pts.length; i++) {
      var p = pts[i], prev = pts[i - 1], next = pts[i + 1];
      if (!next) { d += " L" + fmt(p[0]) + "," + fmt(p[1]); break; }
      var l1 = Math.hypot(p[0] - prev[0], p[1] - prev[1]), l2 = Math.hypot(next[0] - p[0], next[1] - p[1]);
      var r = Math.min(RADIUS, l1 / 2, l2 / 2);
      var ax = p[0] - (p[0] - prev[0]) / l1 * r, ay = p[1] - (p[1] - prev[1]) / l1 * r;
      var bx = p[0] + (next[0] - p[0]) / l2 * r, by = p[1] + (next[1] - p[1]) / l2 * r;
      d += " L" + fmt(ax) + "," + fmt(ay) + " Q" + fmt(p[0]) + "," + fmt(p[1]) + " " + fmt(bx) + "," + fmt(by);
    }
    return d;
  }

  window.PgErdLayout = { HEADER_H: HEADER_H, ROW_H: ROW_H, rowOffset: rowOffset, elkGraph: elkGraph,
                         readElk: readElk, simpleRoute: simpleRoute, pathD: pathD };
})();
