/* "Pages first, details after": fill the parts of a page that the server had not computed yet.

   The server renders every page at once with what it has cached; a part it still has to compute is a
   placeholder inside an element with an id, carrying data-fill="/fragment/url" and a sentence that says
   what it waits for. One request per distinct URL (placeholders sharing a URL share it): the answer is
   HTML whose top-level elements replace the page's elements with the same ids (an error answer does too,
   with its message and hint in place). data-fill-mode="reload" reloads the page once the fragment says
   the data is ready (the ER diagram, whose script needs the whole page). No JS: the placeholder's
   <noscript> link loads the page with ?wait=1, which computes everything before answering. */
(function () {
  "use strict";

  function showError(el, text) {
    var msg = el.querySelector("[data-fill-message]") || el;
    el.classList.add("fill-failed");
    el.setAttribute("data-fill-state", "error");
    msg.textContent = text;
    var sync = el.querySelector("[data-fill-sync]");
    if (sync) sync.hidden = false;
    var spinner = el.querySelector(".fill-spinner");
    if (spinner) spinner.remove();
  }

  function seconds(ms) {
    var s = Math.max(1, Math.round(ms / 1000));
    return s < 60 ? s + " s" : Math.floor(s / 60) + " min " + ("0" + (s % 60)).slice(-2) + " s";
  }

  /* The time so far; with data-fill-typical-ms (how long this took the last times here) also the estimate
     and a bar that fills against it, so a long wait reads as progress rather than as a hang. */
  function tick(els, started) {
    var elapsed = Date.now() - started;
    if (elapsed < 1000) return;
    els.forEach(function (el) {
      var clock = el.querySelector("[data-fill-elapsed]");
      if (!clock) return;
      var typical = +el.getAttribute("data-fill-typical-ms") || 0, text = " " + seconds(elapsed);
      if (typical >= 1000) {
        text += elapsed <= typical * 1.2 ? ", usually ~" + seconds(typical) + " on this project"
                                         : ", longer than the usual ~" + seconds(typical) + " on this project";
        var bar = el.querySelector("progress.fill-bar");
        if (!bar) {
          bar = document.createElement("progress");
          bar.className = "fill-bar"; bar.max = 100;
          clock.parentNode.after(bar);
        }
        bar.value = Math.min(95, Math.round(100 * elapsed / typical));
      }
      clock.textContent = text;
    });
  }

  function place(body) {
    var tpl = document.createElement("template");
    tpl.innerHTML = body;
    var placed = [];
    Array.prototype.slice.call(tpl.content.children).forEach(function (node) {
      var target = node.id && document.getElementById(node.id);
      if (target) { target.replaceWith(node); placed.push(node); }
    });
    return placed;
  }

  function load(url, els) {
    var started = Date.now();
    var timer = setInterval(function () { tick(els, started); }, 1000);
    fetch(url, { headers: { Accept: "text/html", "X-Fill": "1" }, credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (r.redirected && /\/login(\?|$)/.test(new URL(r.url).pathname + new URL(r.url).search)) {
          location.reload(); /* the session ended: the page itself leads to the login */
          return null;
        }
        return r.text().then(function (body) { return { ok: r.ok, status: r.status, body: body }; });
      })
      .then(function (res) {
        clearInterval(timer);
        if (!res) return;
        if (res.ok && els[0].getAttribute("data-fill-mode") === "reload") { location.reload(); return; }
        var placed = place(res.body);
        els.forEach(function (el) {
          if (el.isConnected) showError(el, "Could not load this part (HTTP " + res.status + ").");
        });
        placed.forEach(scan); /* a filled part may hold placeholders of its own (e.g. the SQL of a revision) */
        document.dispatchEvent(new CustomEvent("pgadmin:filled", { detail: { url: url, status: res.status } }));
      })
      .catch(function () {
        clearInterval(timer);
        els.forEach(function (el) { showError(el, "Could not load this part: the server did not answer."); });
      });
  }

  function scan(root) {
    var groups = {};
    var found = root.matches && root.matches("[data-fill]") ? [root] : [];
    found = found.concat(Array.prototype.slice.call(root.querySelectorAll("[data-fill]")));
    found.forEach(function (el) {
      if (el.getAttribute("data-fill-state")) return;
      el.setAttribute("data-fill-state", "loading");
      var url = el.getAttribute("data-fill");
      (groups[url] = groups[url] || []).push(el);
    });
    Object.keys(groups).forEach(function (url) { load(url, groups[url]); });
  }

  if (!window.fetch || !("content" in document.createElement("template"))) return; /* the links stay */
  scan(document);
})();
