/* /models: filter the model cards as you type (the form's ?q= does the same without JS). The cards may
   arrive after the page (static/core/fill.js): they are looked up at each filtering, and filtered again
   when they arrive. */
(function () {
  "use strict";
  var box = document.getElementById("model-search");
  if (!box) return;
  function apply(updateUrl) {
    var cards = Array.prototype.slice.call(document.querySelectorAll(".mm-card"));
    var empty = document.getElementById("search-empty");
    var q = box.value.trim().toLowerCase();
    var shown = 0;
    cards.forEach(function (card) {
      var hit = !q || card.dataset.searchText.indexOf(q) !== -1;
      card.hidden = !hit;
      var chip = document.querySelector('[data-index-for="' + card.dataset.model + '"]');
      if (chip) chip.hidden = !hit;
      if (hit) shown += 1;
    });
    if (empty && cards.length) { empty.hidden = shown > 0; empty.textContent = "No model or column matches “" + box.value + "”."; }
    if (!updateUrl) return;
    var url = new URL(location.href);
    if (q) url.searchParams.set("q", box.value); else url.searchParams.delete("q");
    history.replaceState(null, "", url);
  }
  box.addEventListener("input", function () { apply(true); });
  document.addEventListener("pgadmin:filled", function () { apply(false); });
})();
