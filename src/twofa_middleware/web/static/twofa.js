// Progressive enhancement only: every page works without this file.
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
          if (status) status.textContent = "Copied";
        }, function () {
          if (status) status.textContent = "Copy failed: select the codes and copy them by hand";
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
          if (said) said.textContent = "Copied";
        }, function () {
          if (said) said.textContent = "Copy failed: select the token and copy it by hand";
        });
      });
    });
  });
})();
