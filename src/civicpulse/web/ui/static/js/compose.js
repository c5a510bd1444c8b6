// Compose page: library picker, removing an attachment, clearing the upload fields.
// The live checks themselves are HTMX (see #checks in content/compose.html).
(function () {
  "use strict";
  var lastText = null;
  document.addEventListener("focusin", function (ev) {
    var el = ev.target;
    if (el.matches && el.matches("#compose textarea")) { lastText = el; }
  });
  function changed(el) {
    el.dispatchEvent(new Event("input", { bubbles: true }));
  }
  document.addEventListener("click", function (ev) {
    var pick = ev.target.closest && ev.target.closest(".library-pick");
    if (pick) {
      var text = pick.getAttribute("data-text") || "";
      if (pick.getAttribute("data-kind") === "hashtag") {
        var tags = document.querySelector("#compose input[name=hashtags]");
        tags.value = (tags.value ? tags.value + " " : "") + text;
        changed(tags);
        return;
      }
      var target = lastText || document.querySelector("#compose textarea[name=text_" + pick.getAttribute("data-lang") + "]");
      if (!target) { return; }
      var start = target.selectionStart || target.value.length;
      var end = target.selectionEnd || target.value.length;
      target.value = target.value.slice(0, start) + text + target.value.slice(end);
      target.focus();
      changed(target);
      return;
    }
    var remove = ev.target.closest && ev.target.closest(".media-remove");
    if (remove) {
      var row = remove.closest(".media-row");
      var form = remove.closest("form");
      row.parentNode.removeChild(row);
      if (form) { form.dispatchEvent(new Event("change", { bubbles: true })); }
    }
  });
  document.addEventListener("htmx:afterRequest", function (ev) {
    if (ev.detail && ev.detail.elt && ev.detail.elt.id === "media-button" && ev.detail.successful) {
      var file = document.getElementById("media-file");
      var alt = document.getElementById("media-alt");
      if (file) { file.value = ""; }
      if (alt) { alt.value = ""; }
    }
  });
})();
