// Live updates: when the server says a home (or caseload) changed, fetch the panel again.
(function () {
  "use strict";
  var panel = document.getElementById("panel");
  if (!panel || !window.EventSource) { return; }
  var source = new EventSource(panel.dataset.live);
  var busy = false;
  source.addEventListener("update", function () {
    if (busy) { return; }
    busy = true;
    fetch(panel.dataset.panel, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html !== null) { panel.innerHTML = html; panel.dataset.updated = String(Date.now()); }
      })
      .finally(function () { busy = false; });
  });
}());
