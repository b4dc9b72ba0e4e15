// Under the POSIX locale (LANG=C) WebKit reports navigator.language as "C", which Intl
// rejects with a RangeError; uPlot formats numbers with it as it loads and would fail to
// load at all. This classic script, run before uPlot, gives such a page "en-US" instead
// (the page's own numbers fall back the same way in util.js).
(function () {
  "use strict";
  try {
    new Intl.NumberFormat(navigator.language);
  } catch (e) {
    try {
      Object.defineProperty(navigator, "language", { value: "en-US", configurable: true });
    } catch (_) {
      /* nothing more to do: the charts say they are unavailable */
    }
  }
})();
