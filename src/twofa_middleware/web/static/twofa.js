// Progressive enhancement only: every page works without this file.
// Its words come from the page (data-text-* attributes), in the page's language.
(function () {
  "use strict";
  function ready(fn) {
    if (document.readyState !== "loading") fn(); else document.addEventListener("DOMContentLoaded", fn);
  }
  ready(function () {
    var saved = document.getElementById("saved");
    var done = document.getElementById("done");
    function sync() { if (done && saved) done.disabled = !saved.checked; }
    function markSaved() { if (saved) { saved.checked = true; sync(); } }
    if (saved && done) { saved.addEventListener("change", sync); sync(); }

    var download = document.getElementById("download-codes");
    if (download) download.addEventListener("click", markSaved);

    var copy = document.getElementById("copy-codes");
    var status = document.getElementById("copy-status");
    if (copy && navigator.clipboard) {
      copy.hidden = false;
      copy.addEventListener("click", function () {
        navigator.clipboard.writeText(copy.getAttribute("data-codes")).then(function () {
          markSaved();
          if (status) status.textContent = copy.getAttribute("data-text-copied");
        }, function () {
          if (status) status.textContent = copy.getAttribute("data-text-copy-failed");
        });
      });
    }

    // The result goes to the button's role="status" element, so a screen reader announces it.
    document.querySelectorAll("[data-copy-target]").forEach(function (button) {
      var target = document.getElementById(button.getAttribute("data-copy-target"));
      var said = document.getElementById(button.getAttribute("data-copy-status"));
      if (!target || !navigator.clipboard) return;
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(target.textContent.trim()).then(function () {
          if (said) said.textContent = button.getAttribute("data-text-copied");
        }, function () {
          if (said) said.textContent = button.getAttribute("data-text-copy-failed");
        });
      });
    });
  });
})();
