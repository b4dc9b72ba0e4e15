//! Following `next_url`: [`AggregatesPager`] fetches one page per call, and
//! [`CursorGuard`] stops with [`PolygonError::RepeatedCursor`] when Polygon sends a page
//! address it already sent (a known upstream bug that would otherwise loop forever).

use std::collections::HashSet;

use url::Url;

use super::client::PolygonClient;
use super::errors::PolygonError;
use super::types::AggsResponse;
use crate::bars::Bar;

/// The identity of a page: its opaque `cursor` when it has one, else its path and query.
pub(crate) fn page_key(url: &Url) -> String {
    match url.query_pairs().find(|(k, _)| k == "cursor") {
        Some((_, v)) => format!("cursor:{v}"),
        None => format!("{}?{}", url.path(), url.query().unwrap_or("")),
    }
}

/// Remembers every page address of one listing and refuses one seen before.
#[derive(Debug)]
pub(crate) struct CursorGuard {
    seen: HashSet<String>,
}

impl CursorGuard {
    /// A guard that already knows the first page.
    pub(crate) fn new(first: &Url) -> Self {
        let mut seen = HashSet::new();
        seen.insert(page_key(first));
        CursorGuard { seen }
    }

    /// Records `next`; an error if it was seen before.
    pub(crate) fn check(&mut self, next: &Url, label: &str) -> Result<(), PolygonError> {
        if self.seen.insert(page_key(next)) {
            Ok(())
        } else {
            tracing::warn!(label, "Polygon repeated a next_url; stopping");
            Err(PolygonError::RepeatedCursor {
                ticker: label.to_string(),
            })
        }
    }
}

/// Pages of aggregate bars for one ticker, timeframe and date range, oldest first.
///
/// Each [`next_page`](AggregatesPager::next_page) sends one HTTP request (plus retries)
/// and returns that page's bars, `None` once the last page has been returned. After an
/// error the same page is asked for again on the next call, except after
/// [`PolygonError::RepeatedCursor`], which ends the listing.
#[derive(Debug)]
pub struct AggregatesPager {
    client: PolygonClient,
    ticker: String,
    what: String,
    next: Option<Url>,
    guard: CursorGuard,
    pages: u32,
    bars: u64,
}

impl AggregatesPager {
    pub(crate) fn new(client: PolygonClient, ticker: String, what: String, first: Url) -> Self {
        AggregatesPager {
            client,
            ticker,
            what,
            guard: CursorGuard::new(&first),
            next: Some(first),
            pages: 0,
            bars: 0,
        }
    }

    /// The ticker being listed.
    pub fn ticker(&self) -> &str {
        &self.ticker
    }

    /// Pages returned so far.
    pub fn pages_fetched(&self) -> u32 {
        self.pages
    }

    /// Bars returned so far.
    pub fn bars_fetched(&self) -> u64 {
        self.bars
    }

    /// Whether every page has been returned.
    pub fn is_done(&self) -> bool {
        self.next.is_none()
    }

    /// The address of the next page (it never carries the key), if any.
    pub fn current_url(&self) -> Option<&Url> {
        self.next.as_ref()
    }

    /// Fetches the next page; `Ok(None)` when there is none left.
    pub async fn next_page(&mut self) -> Result<Option<Vec<Bar>>, PolygonError> {
        let Some(url) = self.next.take() else {
            return Ok(None);
        };
        let label = if self.pages == 0 {
            self.what.clone()
        } else {
            format!("{} (page {})", self.what, self.pages + 1)
        };
        let resp: AggsResponse = match self.client.get_json(&url, &label).await {
            Ok(r) => r,
            Err(e) => {
                self.next = Some(url);
                return Err(e);
            }
        };
        if let Some(n) = resp.next_url.as_deref().filter(|s| !s.trim().is_empty()) {
            let n = match self.client.follow(n, &label) {
                Ok(n) => n,
                Err(e) => {
                    self.next = Some(url);
                    return Err(e);
                }
            };
            self.guard.check(&n, &self.ticker)?;
            self.next = Some(n);
        }
        let bars = resp.results.unwrap_or_default();
        self.pages += 1;
        self.bars += bars.len() as u64;
        Ok(Some(bars))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_cursor_or_first_page_is_refused() {
        let first = Url::parse("http://h/v2/aggs/ticker/A/range/1/day/a/b?adjusted=true").unwrap();
        let mut g = CursorGuard::new(&first);
        let p2 = Url::parse("http://h/v2/aggs/ticker/A/range/1/day/a/b?cursor=c2").unwrap();
        let p3 = Url::parse("http://h/v2/aggs/ticker/A/range/1/day/a/b?cursor=c3").unwrap();
        g.check(&p2, "A").unwrap();
        g.check(&p3, "A").unwrap();
        assert_eq!(
            g.check(&p2, "A").unwrap_err(),
            PolygonError::RepeatedCursor { ticker: "A".into() }
        );
        assert!(g.check(&first, "A").is_err());
    }
}
