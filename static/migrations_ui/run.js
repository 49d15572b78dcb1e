/* Live log of a migration run: the page already shows the lines so far; this adds new ones. */
(function () {
  "use strict";
  var log = document.getElementById("run-log");
  if (!log || !window.WebSocket) return;
  var runId = log.dataset.run;
  var startedFinished = log.dataset.finished === "1";
  var lastSeq = 0;
  log.querySelectorAll("li[data-seq]").forEach(function (li) { lastSeq = Math.max(lastSeq, +li.dataset.seq); });
  var state = document.getElementById("live-state");
  var badge = document.getElementById("run-status");

  function time(iso) { try { return new Date(iso).toTimeString().slice(0, 8); } catch (e) { return ""; } }
  function span(cls, text) { var s = document.createElement("span"); s.className = cls; s.textContent = text; return s; }

  function addLine(line) {
    if (line.seq <= lastSeq) return; // sent twice around the connect: drop it
    lastSeq = line.seq;
    var li = document.createElement("li");
    li.className = "line line-" + line.kind;
    li.dataset.seq = line.seq;
    li.append(span("t", time(line.at)), " ", span("k", line.kind), " ", span("x", line.text));
    var atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
    log.appendChild(li);
    if (atBottom) li.scrollIntoView({ block: "end" });
  }

  // a long step (backup, restore): bytes so far, share done and time left, replaced at each sample
  var box = document.getElementById("run-progress");
  function setProgress(p) {
    if (!box) return;
    if (p.done || startedFinished) { box.hidden = true; return; }
    var bar = document.getElementById("run-progress-bar");
    if (p.percent === null || p.percent === undefined) bar.removeAttribute("value"); else bar.value = p.percent;
    document.getElementById("run-progress-text").textContent = p.text;
    box.dataset.step = p.step;
    box.hidden = false;
  }

  function setStatus(run) {
    badge.textContent = run.status;
    badge.dataset.status = run.status;
    badge.className = "status status-" + run.status;
    var waiting = document.getElementById("run-waiting");
    if (waiting) {  // queued for a worker: the note goes once a worker has taken the run
      waiting.hidden = !run.waiting;
      if (run.waiting) waiting.textContent = run.waiting;
    }
    if ((run.status === "succeeded" || run.status === "failed") && !startedFinished) {
      state.textContent = "finished";
      // the facts (check, steps, error) are rendered by the server: show them once
      setTimeout(function () { window.location.reload(); }, 400);
      startedFinished = true;
      if (window.pgadminToast) window.pgadminToast("Run " + runId + " " + run.status, run.status === "succeeded" ? "success" : "error");
    }
  }

  function connect(attempt) {
    var proto = location.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(proto + location.host + "/ws/alembic/runs/" + runId + "/");
    ws.onopen = function () { if (!startedFinished) state.textContent = "live"; };
    ws.onmessage = function (ev) {
      var msg = JSON.parse(ev.data);
      if (msg.type === "line") addLine(msg.line);
      else if (msg.type === "status") setStatus(msg.run);
      else if (msg.type === "progress") setProgress(msg.progress);
    };
    ws.onclose = function () {
      if (startedFinished) return;
      state.textContent = "reconnecting…";
      setTimeout(function () { connect(attempt + 1); }, Math.min(5000, 500 * (attempt + 1)));
    };
  }
  connect(0);
})();

/* "Copy log": the lines as plain text on the clipboard; where the Clipboard API is refused
   (plain http on another host, or a denied permission) the log is shown selected in a text box. */
(function () {
  "use strict";
  var log = document.getElementById("run-log"), button = document.getElementById("copy-log");
  if (!log || !button) return;
  var state = document.getElementById("copy-state"), box = document.getElementById("copy-fallback");
  var text = document.getElementById("copy-text"), timer = null;
  button.hidden = false;
  function logText() {
    return Array.prototype.map.call(log.querySelectorAll("li"), function (li) {
      var part = function (cls) { var el = li.querySelector("." + cls); return el ? el.textContent : ""; };
      return [part("t"), part("k"), part("x")].join(" ").trim();  // the message keeps its own line breaks
    }).join("\n") + "\n";
  }
  function copied(how) {
    button.textContent = "Copied"; button.dataset.state = "copied";
    state.textContent = how;
    clearTimeout(timer);
    timer = setTimeout(function () { button.textContent = "Copy log"; delete button.dataset.state; state.textContent = ""; }, 2500);
  }
  function fallback() {
    text.value = logText();
    box.hidden = false;
    text.focus(); text.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    if (ok) copied("Log copied to the clipboard."); else state.textContent = "Select-all done: copy with Ctrl+C.";
  }
  button.addEventListener("click", function () {
    var value = logText();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(value).then(function () { copied("Log copied to the clipboard."); }, fallback);
    } else {
      fallback();
    }
  });
})();
