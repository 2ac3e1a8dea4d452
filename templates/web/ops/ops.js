// The ops console's live figures: poll the edition's live.json every few seconds and update
// the elements marked data-live="key" (dotted keys reach into objects). When the edition's
// state changes the page reloads, so the buttons are always the ones the lifecycle allows.
(function () {
  "use strict";
  var root = document.getElementById("live");
  if (!root) { return; }
  var url = root.getAttribute("data-live-url");
  var state = root.getAttribute("data-state");
  var EVERY = 3000;

  function pick(data, key) {
    return key.split(".").reduce(function (v, k) { return v == null ? v : v[k]; }, data);
  }

  function apply(data) {
    if (data.state !== state) { window.location.reload(); return; }
    var nodes = root.querySelectorAll("[data-live]");
    for (var i = 0; i < nodes.length; i++) {
      var value = pick(data, nodes[i].getAttribute("data-live"));
      if (value != null) { nodes[i].textContent = String(value); }
    }
    var bar = document.getElementById("progress");
    if (bar) { bar.max = Math.max(1, data.total); bar.value = data.done; }
  }

  function poll() {
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
      .then(function (data) { apply(data); setTimeout(poll, EVERY); })
      .catch(function () { setTimeout(poll, EVERY * 3); });
  }
  setTimeout(poll, EVERY);
})();
