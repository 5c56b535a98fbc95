// ent-roadmap: the only script of the pages (no inline script: the CSP forbids it). Progressive: every page works
// without it. It adds a "select all / none" button to lists of checkboxes.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-select-all]").forEach(function (button) {
    button.addEventListener("click", function () {
      var boxes = document.querySelectorAll('input[type="checkbox"][name="' + button.dataset.selectAll + '"]');
      var anyOff = Array.prototype.some.call(boxes, function (b) { return !b.checked; });
      boxes.forEach(function (b) { b.checked = anyOff; });
    });
  });
});
