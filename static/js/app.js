/* Shared comfort for every page: theme toggle, toasts, keyboard shortcuts. Pages work without it. */
(function () {
  "use strict";
  var root = document.documentElement;

  function setTheme(theme) {
    root.dataset.theme = theme;
    try { localStorage.setItem("theme", theme); } catch (e) { /* private mode: keep it for this page */ }
  }
  function toggleTheme() { setTheme(root.dataset.theme === "light" ? "dark" : "light"); }

  var toggle = document.getElementById("theme-toggle");
  if (toggle) toggle.addEventListener("click", toggleTheme);

  /* <select data-autosubmit>: submit its form on change (instead of an inline onchange, refused by the CSP) */
  document.querySelectorAll("[data-autosubmit]").forEach(function (el) {
    el.addEventListener("change", function () { if (el.form) el.form.submit(); });
  });

  /* toasts: dismiss on click, fade non-errors after 8 s */
  document.querySelectorAll(".toast").forEach(function (toast) {
    toast.querySelector(".toast-close").addEventListener("click", function () { toast.remove(); });
    if (!toast.classList.contains("toast-error")) setTimeout(function () { toast.remove(); }, 8000);
  });

  window.pgadminToast = function (message, kind) {
    var box = document.getElementById("toasts");
    var toast = document.createElement("div");
    toast.className = "toast toast-" + (kind || "info");
    toast.setAttribute("role", kind === "error" ? "alert" : "status");
    var span = document.createElement("span");
    span.textContent = message;
    var close = document.createElement("button");
    close.className = "toast-close"; close.type = "button"; close.textContent = "×";
    close.setAttribute("aria-label", "Dismiss");
    close.addEventListener("click", function () { toast.remove(); });
    toast.append(span, close);
    box.append(toast);
  };

  /* shortcuts overlay and "g x" navigation */
  var overlay = document.getElementById("shortcuts");
  function openShortcuts() { if (overlay) overlay.hidden = false; }
  function closeOverlays() { document.querySelectorAll(".overlay").forEach(function (o) { o.hidden = true; }); }
  document.querySelectorAll("[data-open-shortcuts]").forEach(function (b) { b.addEventListener("click", openShortcuts); });
  document.querySelectorAll("[data-close-overlay]").forEach(function (b) { b.addEventListener("click", closeOverlays); });
  if (overlay) overlay.addEventListener("click", function (e) { if (e.target === overlay) closeOverlays(); });

  /* "g" then a letter; never "t", which alone toggles the theme (one key, one meaning) */
  var nav = { d: "/", m: "/alembic", o: "/models", e: "/er-diagram", b: "/data", s: "/sql", a: "/audit", u: "/users" };
  var pendingG = false;
  document.addEventListener("keydown", function (e) {
    var tag = (e.target && e.target.tagName) || "";
    if (/INPUT|TEXTAREA|SELECT/.test(tag) || (e.target && e.target.isContentEditable)) {
      if (e.key === "Escape") e.target.blur();
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "Escape") { closeOverlays(); return; }
    if (pendingG) { pendingG = false; if (nav[e.key]) { location.href = nav[e.key]; } return; }
    if (e.key === "?") { e.preventDefault(); openShortcuts(); }
    else if (e.key === "t") { toggleTheme(); }
    else if (e.key === "g") { pendingG = true; setTimeout(function () { pendingG = false; }, 1200); }
    else if (e.key === "/") {
      var box = document.querySelector("[data-search]");
      if (box) { e.preventDefault(); box.focus(); }
    }
  });
  /* counts in the reader's locale: the server groups them the English way ([data-n]) */
  try {
    var fmt = new Intl.NumberFormat(navigator.language || undefined);
    document.querySelectorAll("[data-n]").forEach(function (el) {
      var n = Number(el.dataset.n);
      if (isFinite(n)) el.textContent = fmt.format(n);
    });
  } catch (e) { /* an unknown locale: keep the server's grouping */ }
})();
