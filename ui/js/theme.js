// Follows the system colour scheme: sets Bootstrap's data-bs-theme on <html> before first
// paint (this is a classic, blocking script for that reason) and again whenever it changes.
(function () {
  "use strict";
  var query = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  function apply() {
    var dark = !!(query && query.matches);
    document.documentElement.setAttribute("data-bs-theme", dark ? "dark" : "light");
  }
  apply();
  if (query) {
    if (query.addEventListener) {
      query.addEventListener("change", apply);
    } else if (query.addListener) {
      query.addListener(apply);
    }
  }
})();
