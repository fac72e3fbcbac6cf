// modelpilot dashboard: keeps the page's sections live by polling the page's JSON endpoint (data-poll on <body>).
// The endpoint answers {"html": {section: markup}}; markup is drawn and escaped by the server, same origin only
// (the Content-Security-Policy forbids inline scripts, so markup can never run code). Open <details> stay open.
"use strict";
(function () {
  var PERIOD_MS = 3000;
  var url = document.body.getAttribute("data-poll");
  var live = document.getElementById("live");
  var last = {};

  function state(name, text) {
    if (!live) return;
    live.setAttribute("data-state", name);
    live.textContent = text;
  }

  function openKeys(el) {
    var keys = {};
    el.querySelectorAll("details[open][data-key]").forEach(function (d) { keys[d.getAttribute("data-key")] = true; });
    return keys;
  }

  function apply(html) {
    Object.keys(html).forEach(function (key) {
      var el = document.querySelector('[data-section="' + key + '"]');
      if (!el || last[key] === html[key]) return;
      var open = openKeys(el);
      el.innerHTML = html[key];
      el.querySelectorAll("details[data-key]").forEach(function (d) {
        if (open[d.getAttribute("data-key")]) d.open = true;
      });
      last[key] = html[key];
    });
  }

  function schedule() { window.setTimeout(poll, PERIOD_MS); }

  function poll() {
    if (document.hidden) { state("idle", "paused"); schedule(); return; }
    fetch(url, { credentials: "same-origin", cache: "no-store", headers: { accept: "application/json" } })
      .then(function (r) {
        if (r.status === 401) {
          window.location.assign("/ui/login?next=" + encodeURIComponent(window.location.pathname));
          return null;
        }
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (doc) {
        if (!doc) return;
        apply(doc.html || {});
        state("ok", "live " + new Date().toLocaleTimeString());
        schedule();
      })
      .catch(function () { state("down", "reconnecting"); schedule(); });
  }

  if (url) { state("ok", "live"); schedule(); } else if (live) { live.hidden = true; }
})();
