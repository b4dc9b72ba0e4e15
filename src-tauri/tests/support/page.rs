//! Page helpers shared by the operator tests: toasts as the page raised them, clicks on
//! elements below the fold, screenshots kept with the test's artifacts.

use std::time::Duration;

use serde_json::{json, Value};

use super::App;

/// Records every toast the page raises (`window.__e2eToasts`).
const WATCH_TOASTS: &str = r#"
if (!window.__e2eToasts) {
  window.__e2eToasts = [];
  new MutationObserver((muts) => {
    for (const m of muts) for (const n of m.addedNodes) {
      if (!(n instanceof Element) || !n.classList.contains('toast')) continue;
      const q = (sel) => { const e = n.querySelector(sel); return e ? e.textContent.trim() : ''; };
      window.__e2eToasts.push({ title: q('.toast-title'), mono: q('.toast-mono'), body: q('.toast-body'), variant: n.dataset.variant || '' });
    }
  }).observe(document.getElementById('toasts'), { childList: true });
}
return true;
"#;

pub async fn watch_toasts(app: &App) {
    app.js(WATCH_TOASTS).await;
}

/// Waits for a toast titled `title`; returns it.
pub async fn wait_toast(app: &App, title: &str, timeout: Duration) -> Value {
    app.wait_js(
        &format!("a {title:?} toast"),
        timeout,
        &format!("return (window.__e2eToasts || []).find((t) => t.title === {title:?}) || null;"),
    )
    .await
}

/// Clicks an element from the page (scrolled into view first): WebKitWebDriver refuses
/// native clicks on elements below the fold.
pub async fn press(app: &App, css: &str) {
    app.js_args(
        "const n = document.querySelector(arguments[0]);
         if (!n) throw new Error('no element ' + arguments[0]);
         n.scrollIntoView({block: 'center'});
         n.click();
         return true;",
        vec![json!(css)],
    )
    .await;
}

pub fn save_screenshot(app: &App, png: &[u8], name: &str) {
    let path = app.artifacts.join(name);
    std::fs::write(&path, png).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    eprintln!("screenshot: {}", path.display());
}
