// The colour scheme: follows the system unless the operator picked light or dark with the
// header's toggle (kept in localStorage). Sets Bootstrap's data-bs-theme on <html> before
// first paint (this is a classic, blocking script for that reason) and again whenever the
// system's scheme or the choice changes. `window.tickstockTheme` lets the page's modules
// read and cycle the choice.
(function () {
  "use strict";
  var KEY = "tickstock.theme";
  var CHOICES = ["auto", "light", "dark"];
  var query = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  function choice() {
    try {
      var c = window.localStorage.getItem(KEY);
      return CHOICES.indexOf(c) >= 0 ? c : "auto";
    } catch (e) {
      return "auto";
    }
  }
  function apply() {
    var c = choice();
    var dark = c === "dark" || (c === "auto" && !!(query && query.matches));
    document.documentElement.setAttribute("data-bs-theme", dark ? "dark" : "light");
    document.documentElement.dataset.themeChoice = c;
  }
  apply();
  if (query) {
    if (query.addEventListener) {
      query.addEventListener("change", apply);
    } else if (query.addListener) {
      query.addListener(apply);
    }
  }
  window.tickstockTheme = {
    choice: choice,
    /** Moves to the next choice (auto, light, dark) and returns it. */
    cycle: function () {
      var next = CHOICES[(CHOICES.indexOf(choice()) + 1) % CHOICES.length];
      try {
        window.localStorage.setItem(KEY, next);
      } catch (e) {
        /* private mode: the choice lasts for this page only */
      }
      apply();
      return next;
    },
  };
})();
