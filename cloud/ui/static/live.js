// Live updates for the ops pages (Server-Sent Events from /ui/events; see cloud/ui/live.py).
// No framework: elements opt in with data attributes.
//   data-device-status="ID"  badge of a device's status     data-device-since="ID"  "for ..." cell
//   data-count="online"      an overview figure              time[data-rel]          relative time, ticking
(function () {
  "use strict";

  function ago(iso) {
    var s = (Date.now() - Date.parse(iso)) / 1000;
    if (!isFinite(s)) return "never";
    if (s < 0) return "just now";
    if (s >= 86400) return Math.floor(s / 86400) + "d ago";
    if (s >= 3600) return Math.floor(s / 3600) + "h ago";
    if (s >= 60) return Math.floor(s / 60) + "m ago";
    return Math.floor(s) + "s ago";
  }

  function relTime(iso) {
    var t = document.createElement("time");
    t.setAttribute("datetime", iso);
    t.setAttribute("data-rel", "");
    t.textContent = ago(iso);
    return t;
  }

  function tick() {
    document.querySelectorAll("time[data-rel]").forEach(function (t) {
      t.textContent = ago(t.getAttribute("datetime"));
    });
  }

  function flash(el) {
    el.classList.remove("flash");
    void el.offsetWidth; // restart the animation
    el.classList.add("flash");
  }

  function onStatus(change) {
    document.querySelectorAll('[data-device-status="' + CSS.escape(change.device) + '"]').forEach(function (b) {
      if (b.textContent === change.shown) return;
      b.className = "badge s-" + change.shown;
      b.textContent = change.shown;
      var row = b.closest("tr");
      if (row) flash(row);
    });
    document.querySelectorAll('[data-device-since="' + CSS.escape(change.device) + '"]').forEach(function (el) {
      el.replaceChildren(relTime(change.since));
    });
    if (change.reason) {
      document.querySelectorAll('[data-device-reason="' + CSS.escape(change.device) + '"]').forEach(function (el) {
        el.textContent = change.reason;
      });
    }
  }

  function onCounts(counts) {
    document.querySelectorAll("[data-count]").forEach(function (el) {
      var v = String(counts[el.getAttribute("data-count")] || 0);
      if (el.textContent !== v) {
        el.textContent = v;
        flash(el.closest(".card") || el);
      }
    });
  }

  function onDevice(d) {
    document.querySelectorAll('[data-field="last_heartbeat_at"]').forEach(function (el) {
      if (d.last_heartbeat_at) el.replaceChildren(relTime(d.last_heartbeat_at));
    });
    onStatus({ device: d.id, shown: d.shown, since: d.status_since || new Date().toISOString(), reason: "" });
  }

  function connect(url) {
    var indicator = document.getElementById("live-indicator");
    var source = new EventSource(url);
    source.onopen = function () { if (indicator) indicator.className = "live on"; };
    source.onerror = function () { if (indicator) indicator.className = "live off"; };
    source.addEventListener("status", function (e) { onStatus(JSON.parse(e.data)); });
    source.addEventListener("counts", function (e) { onCounts(JSON.parse(e.data)); });
    source.addEventListener("device", function (e) { onDevice(JSON.parse(e.data)); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-confirm]").forEach(function (f) {
      f.addEventListener("submit", function (e) {
        if (!window.confirm(f.getAttribute("data-confirm"))) e.preventDefault();
      });
    });
    var url = document.body.getAttribute("data-live");
    if (url && window.EventSource) connect(url);
    setInterval(tick, 1000);
  });
})();
