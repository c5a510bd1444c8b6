// Calendar: drag a post to another day to move it (HTML5 drag and drop). The drop posts the hidden
// #cal-drop form through HTMX to /calendar/variants/<id>/reschedule, which answers the calendar again.
// Without JavaScript (or from the keyboard), each post has a "Move" form with a date-time field.
(function () {
  "use strict";
  var dragged = null;
  document.addEventListener("dragstart", function (ev) {
    var chip = ev.target.closest && ev.target.closest(".cal-post[draggable=true]");
    if (!chip) { return; }
    dragged = chip.getAttribute("data-variant");
    ev.dataTransfer.effectAllowed = "move";
    ev.dataTransfer.setData("text/plain", dragged);
    chip.classList.add("dragging");
  });
  document.addEventListener("dragend", function (ev) {
    if (ev.target.classList) { ev.target.classList.remove("dragging"); }
    document.querySelectorAll(".cal-day.drop-over").forEach(function (d) { d.classList.remove("drop-over"); });
  });
  document.addEventListener("dragover", function (ev) {
    var day = ev.target.closest && ev.target.closest(".cal-day[data-date]");
    if (!day || !dragged) { return; }
    ev.preventDefault();
    ev.dataTransfer.dropEffect = "move";
    day.classList.add("drop-over");
  });
  document.addEventListener("dragleave", function (ev) {
    var day = ev.target.closest && ev.target.closest(".cal-day[data-date]");
    if (day && !day.contains(ev.relatedTarget)) { day.classList.remove("drop-over"); }
  });
  document.addEventListener("drop", function (ev) {
    var day = ev.target.closest && ev.target.closest(".cal-day[data-date]");
    if (!day) { return; }
    ev.preventDefault();
    var id = ev.dataTransfer.getData("text/plain") || dragged;
    dragged = null;
    day.classList.remove("drop-over");
    var form = document.getElementById("cal-drop");
    if (!id || !/^\d+$/.test(id) || !form || !window.htmx) { return; }
    form.querySelector("input[name=date]").value = day.getAttribute("data-date");
    var values = {};
    new FormData(form).forEach(function (v, k) { values[k] = v; });
    window.htmx.ajax("POST", "/calendar/variants/" + id + "/reschedule",
      { source: form, target: "#calendar", swap: "outerHTML", values: values });
  });
})();
