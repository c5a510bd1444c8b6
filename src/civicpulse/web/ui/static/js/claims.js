// Rumours & claims: the "Copy" button next to a reply drafted from the official correction.
document.addEventListener("click", function (ev) {
  var btn = ev.target.closest ? ev.target.closest("[data-copy-target]") : null;
  if (!btn) { return; }
  var box = document.getElementById(btn.getAttribute("data-copy-target"));
  if (!box) { return; }
  box.select();
  if (navigator.clipboard && navigator.clipboard.writeText) {
    navigator.clipboard.writeText(box.value).catch(function () { document.execCommand("copy"); });
  } else {
    document.execCommand("copy");
  }
  btn.setAttribute("aria-pressed", "true");
});
