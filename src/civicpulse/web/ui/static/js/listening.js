// Listening pages: small progressive enhancements; every page works without them.
(function () {
  "use strict";

  // "/" jumps to the search box (unless typing in a field already).
  document.addEventListener("keydown", function (ev) {
    if (ev.key !== "/" || ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    var t = ev.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable)) { return; }
    var box = document.querySelector("[data-search-box]");
    if (box) { ev.preventDefault(); box.focus(); box.select(); }
  });

  // Column mapping: highlight in the preview table the columns that are picked.
  function markPicked(form) {
    var picked = {};
    form.querySelectorAll("select[name^='map_']").forEach(function (sel) { if (sel.value) { picked[sel.value] = true; } });
    document.querySelectorAll("table.preview [data-column]").forEach(function (cell) {
      cell.classList.toggle("picked", !!picked[cell.getAttribute("data-column")]);
    });
  }
  document.querySelectorAll("form[data-mapping]").forEach(function (form) {
    markPicked(form);
    form.addEventListener("change", function () { markPicked(form); });
  });
})();
