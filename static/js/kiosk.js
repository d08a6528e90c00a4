/* The kiosk: back to the start page after a minute without a touch or a key (the page's <noscript> refresh
   does it without JavaScript); the queue board reloads itself through htmx (hx-trigger="every …"). */
(function () {
  "use strict";
  var IDLE_MS = 60000;
  var home = document.body.getAttribute("data-kiosk-home") || "/kiosk";
  var timer = null;
  function dirty() {
    var typed = false;
    document.querySelectorAll("input[type=text]").forEach(function (el) { if (el.value) typed = true; });
    return typed;
  }
  function reset() {
    if (window.location.pathname === home && !window.location.search && !dirty()) {
      arm();
      return;
    }
    window.location.assign(home);
  }
  function arm() {
    if (timer) window.clearTimeout(timer);
    timer = window.setTimeout(reset, IDLE_MS);
  }
  ["keydown", "pointerdown", "input", "touchstart"].forEach(function (name) {
    document.addEventListener(name, arm, { passive: true });
  });
  arm();
  var field = document.querySelector("[data-autofocus]");
  if (field) field.focus();
})();
