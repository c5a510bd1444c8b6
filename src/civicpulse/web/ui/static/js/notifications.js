// The bell: keeps the unread count live with server-sent events (the page works without it).
(function () {
  "use strict";
  if (!document.getElementById("bell") || !window.EventSource) { return; }
  var source = new EventSource("/notifications/stream");
  source.addEventListener("unread", function (ev) {
    var n = parseInt(ev.data, 10) || 0;
    var bell = document.getElementById("bell");
    var count = document.getElementById("bell-count");
    if (!bell || !count) { return; }
    count.textContent = String(n);
    count.hidden = n === 0;
    bell.classList.toggle("has-unread", n > 0);
  });
})();
