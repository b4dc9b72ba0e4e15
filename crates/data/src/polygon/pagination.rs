//! Following `next_url`: [`AggregatesPager`] fetches one page per call, and
//! [`PageGuard`] stops with [`PolygonError::PagingLoop`] when the paging stops making
//! progress (a known upstream bug that would otherwise loop forever). A page is trusted
//! only as far as it answers the request ([`PageScope`]): a `next_url` is followed only
//! to the same ticker, multiplier, timespan and end; bars of another ticker or with two
//! bars at one time end the listing with an error; bars outside the requested range, or
//! already received on an earlier page, are dropped, and pages that bring no new bar
//! count as empty.
//!
//! A page is identified by its whole address, never by its `cursor`: Polygon's aggregates
//! `next_url` keeps the same `cursor` (base64 of `limit=N&sort=asc`) on every page and
//! moves the `from` in the path to the Unix ms of the next bar, e.g.
//! `/v2/aggs/ticker/AAPL/range/1/minute/1735912800000/2024-12-31?cursor=bGltaXQ9NTAwMDAmc29ydD1hc2M`.
//! The v3 reference listings do change the cursor from page to page; both are followed
//! the same way, as sent.

use std::collections::HashSet;

use chrono::{NaiveDate, TimeZone};
use chrono_tz::America::New_York;
use url::Url;

use super::client::{PolygonClient, AGGREGATES_LIMIT};
use super::errors::PolygonError;
use super::types::{AggsResponse, ListResponse};
use tickstock_protocol::bars::Bar;
use tickstock_protocol::timeframe::Timeframe;

/// Consecutive empty pages that still carry a `next_url` before the listing is given up.
pub const MAX_EMPTY_PAGES: u32 = 3;

/// The identity of a page: its path and its query pairs (decoded, in a fixed order), any
/// `apiKey` left out. Host and port do not count: [`PolygonClient::follow`] keeps every
/// page on the configured server.
pub(crate) fn page_key(url: &Url) -> String {
    let mut pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("apikey"))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    pairs.sort();
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("{}?{query}", url.path())
}

/// The `from` of an aggregates address (`/v2/aggs/ticker/{T}/range/{m}/{span}/{from}/{to}`)
/// as Unix ms: Unix ms as written, or a `YYYY-MM-DD` date at midnight in New York (the
/// zone Polygon's windows are in). `None` for any other address or an unreadable `from`.
pub(crate) fn aggregates_from_ms(url: &Url) -> Option<i64> {
    let segments: Vec<&str> = url.path_segments()?.collect();
    let v2 = segments
        .windows(3)
        .position(|w| w == ["v2", "aggs", "ticker"])?;
    let from = *segments.get(v2 + 7)?;
    if segments.len() != v2 + 9 || segments.get(v2 + 4) != Some(&"range") {
        return None;
    }
    parse_from_ms(from)
}

fn parse_from_ms(s: &str) -> Option<i64> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    let date = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    New_York
        .from_local_datetime(&date.and_hms_opt(0, 0, 0)?)
        .earliest()
        .map(|t| t.timestamp_millis())
}

/// What one aggregates listing asked for: a page must answer that, nothing else.
#[derive(Debug, Clone)]
pub(crate) struct PageScope {
    ticker: String,
    /// `/v2/aggs/ticker/{T}/range/{m}/{span}` of the first address, then its `to`.
    segments: [String; 4],
    /// Bars are kept with `lo <= t < hi` (Unix ms): the requested days in New York, with
    /// a week or a month of slack before `from` for bars that start their period earlier.
    lo: i64,
    hi: i64,
}

impl PageScope {
    pub(crate) fn new(ticker: &str, tf: Timeframe, from: NaiveDate, to: NaiveDate) -> Self {
        let midnight = |d: NaiveDate| {
            New_York
                .from_local_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight"))
                .earliest()
                .map(|t| t.timestamp_millis())
        };
        let slack = match tf {
            Timeframe::Week => 7,
            Timeframe::Month => 31,
            _ => 0,
        };
        let lo = from
            .checked_sub_days(chrono::Days::new(slack))
            .and_then(midnight)
            .unwrap_or(i64::MIN);
        let hi = to
            .checked_add_days(chrono::Days::new(1))
            .and_then(midnight)
            .unwrap_or(i64::MAX);
        PageScope {
            ticker: ticker.to_string(),
            segments: [
                ticker.to_string(),
                "1".to_string(),
                tf.polygon_timespan().to_string(),
                to.format("%Y-%m-%d").to_string(),
            ],
            lo,
            hi,
        }
    }

    /// Whether `next` lists the same ticker, multiplier, timespan and end as asked
    /// (only its `from` moves).
    fn same_listing(&self, next: &Url) -> bool {
        let Some(segments) = next.path_segments() else {
            return false;
        };
        let segments: Vec<String> = segments.map(percent_encoding_decode).collect();
        let Some(v2) = segments
            .windows(3)
            .position(|w| w == ["v2", "aggs", "ticker"])
        else {
            return false;
        };
        let at = |i: usize| segments.get(v2 + i).map(String::as_str);
        segments.len() == v2 + 9
            && at(3) == Some(self.segments[0].as_str())
            && at(4) == Some("range")
            && at(5) == Some(self.segments[1].as_str())
            && at(6) == Some(self.segments[2].as_str())
            && at(8) == Some(self.segments[3].as_str())
    }
}

/// A path segment with its `%XX` escapes decoded (a ticker such as `BRK.B` or `BF/B` may
/// come escaped).
fn percent_encoding_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_string())
}

/// Watches one listing page by page and refuses to go on when the paging stops making
/// progress:
///
/// - a `next_url` whose path and query were already requested (the whole address, not
///   just its `cursor`);
/// - for aggregates, a `next_url` whose `from` is not later than the `from` of the page it
///   came with, or not later than the newest bar received so far;
/// - [`MAX_EMPTY_PAGES`] pages in a row with no results that still carry a `next_url`.
#[derive(Debug)]
pub(crate) struct PageGuard {
    ticker: String,
    subject: String,
    seen: HashSet<String>,
    empty_in_a_row: u32,
    newest_bar: Option<i64>,
}

impl PageGuard {
    /// A guard that already knows the first page. `ticker` goes into the error's field;
    /// `subject` (e.g. `AAPL minute bars 2024-01-02..2024-12-31`) into its message.
    pub(crate) fn new(first: &Url, ticker: &str, subject: &str) -> Self {
        let mut seen = HashSet::new();
        seen.insert(page_key(first));
        PageGuard {
            ticker: ticker.to_string(),
            subject: subject.to_string(),
            seen,
            empty_in_a_row: 0,
            newest_bar: None,
        }
    }

    /// Records a page of aggregate bars fetched from `current` that points at `next`;
    /// an error when following `next` would not make progress.
    pub(crate) fn check_bars(
        &mut self,
        current: &Url,
        bars: &[Bar],
        next: &Url,
    ) -> Result<(), PolygonError> {
        if let Some(t) = bars.iter().map(|b| b.t).max() {
            self.newest_bar = Some(self.newest_bar.map_or(t, |n| n.max(t)));
        }
        self.check(current, bars.len(), next)
    }

    /// Records a page of `results` items fetched from `current` that points at `next`;
    /// an error when following `next` would not make progress.
    pub(crate) fn check(
        &mut self,
        current: &Url,
        results: usize,
        next: &Url,
    ) -> Result<(), PolygonError> {
        if !self.seen.insert(page_key(next)) {
            return Err(self.stop(format!(
                "Polygon sent the same next_url twice for {}; stopped instead of looping",
                self.subject
            )));
        }
        if let Some(next_from) = aggregates_from_ms(next) {
            if let Some(from) = aggregates_from_ms(current).filter(|&f| next_from <= f) {
                return Err(self.stop(format!(
                    "Polygon's next_url for {} does not move forward (from {next_from} after \
                     from {from}); stopped instead of looping",
                    self.subject
                )));
            }
            if let Some(newest) = self.newest_bar.filter(|&n| next_from <= n) {
                return Err(self.stop(format!(
                    "Polygon's next_url for {} goes back to bars already received (from \
                     {next_from}, newest bar {newest}); stopped instead of looping",
                    self.subject
                )));
            }
        }
        if results == 0 {
            self.empty_in_a_row += 1;
            if self.empty_in_a_row >= MAX_EMPTY_PAGES {
                return Err(self.stop(format!(
                    "Polygon kept sending empty pages for {}; stopped after {}",
                    self.subject, self.empty_in_a_row
                )));
            }
        } else {
            self.empty_in_a_row = 0;
        }
        Ok(())
    }

    pub(crate) fn stop(&self, message: String) -> PolygonError {
        tracing::warn!(ticker = %self.ticker, %message, "Polygon paging stopped");
        PolygonError::PagingLoop {
            ticker: self.ticker.clone(),
            message,
        }
    }
}

/// Pages of aggregate bars for one ticker, timeframe and date range, oldest first.
///
/// Each [`next_page`](AggregatesPager::next_page) sends one HTTP request (plus retries)
/// and returns that page's bars, `None` once the last page has been returned. After an
/// error the same page is asked for again on the next call, except after
/// [`PolygonError::PagingLoop`], which ends the listing.
#[derive(Debug)]
pub struct AggregatesPager {
    client: PolygonClient,
    scope: PageScope,
    what: String,
    next: Option<Url>,
    guard: PageGuard,
    pages: u32,
    /// A `next_url` refused after its page was returned: the next call's error.
    refused: Option<PolygonError>,
}

impl AggregatesPager {
    /// `what` labels requests in errors (`AAPL 1min 2024-01-02..2024-12-31`); `subject`
    /// names the listing in paging errors (`AAPL minute bars 2024-01-02..2024-12-31`).
    pub(crate) fn new(
        client: PolygonClient,
        scope: PageScope,
        what: String,
        subject: String,
        first: Url,
    ) -> Self {
        AggregatesPager {
            client,
            guard: PageGuard::new(&first, &scope.ticker, &subject),
            scope,
            what,
            next: Some(first),
            pages: 0,
            refused: None,
        }
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
        if let Some(e) = self.refused.take() {
            return Err(e);
        }
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
        let bars = self.answering(
            &label,
            resp.ticker.as_deref(),
            resp.results.unwrap_or_default(),
        )?;
        if let Some(n) = resp.next_url.as_deref().filter(|s| !s.trim().is_empty()) {
            let n = match self.client.follow(n, &label) {
                Ok(n) => n,
                Err(e) => {
                    self.next = Some(url);
                    return Err(e);
                }
            };
            if !self.scope.same_listing(&n) {
                // This page answered the request; where it points does not. It is kept,
                // and the listing ends with the error on the next call.
                self.refused = Some(self.guard.stop(format!(
                    "Polygon's next_url for {} names another listing (another ticker, \
                     bar size or end); stopped instead of following it",
                    self.guard.subject
                )));
                self.pages += 1;
                return Ok(Some(bars));
            }
            self.guard.check_bars(&url, &bars, &n)?;
            self.next = Some(n);
        }
        self.pages += 1;
        Ok(Some(bars))
    }

    /// The bars of a page that answer this request: an error for bars of another ticker
    /// or two bars at one time (which of them is right cannot be told); bars outside the
    /// requested range, or no newer than a bar of an earlier page, are dropped.
    fn answering(
        &self,
        label: &str,
        ticker: Option<&str>,
        mut bars: Vec<Bar>,
    ) -> Result<Vec<Bar>, PolygonError> {
        if let Some(t) = ticker.filter(|t| !t.eq_ignore_ascii_case(&self.scope.ticker)) {
            return Err(self.guard.stop(format!(
                "{label}: Polygon answered with bars of another ticker ({}); nothing of it stored",
                tickstock_protocol::error::quote_input(t)
            )));
        }
        let mut times = HashSet::with_capacity(bars.len());
        if let Some(b) = bars.iter().find(|b| !times.insert(b.t)) {
            return Err(self.guard.stop(format!(
                "{label}: Polygon sent two different bars for the same time ({}); nothing of \
                 the page stored",
                b.t
            )));
        }
        let before = bars.len();
        let newest = self.guard.newest_bar;
        let (lo, hi) = (self.scope.lo, self.scope.hi);
        bars.retain(|b| b.t >= lo && b.t < hi && newest.is_none_or(|n| b.t > n));
        if bars.len() < before {
            tracing::warn!(
                what = label,
                dropped = before - bars.len(),
                "Polygon sent bars outside the requested range or already received; dropped"
            );
        }
        Ok(bars)
    }
}

/// The listings that follow `next_url`, as methods of the client.
impl PolygonClient {
    /// Aggregates of one ticker, one page per [`AggregatesPager::next_page`] call, oldest first.
    pub fn aggregates(
        &self,
        ticker: &str,
        tf: Timeframe,
        from: NaiveDate,
        to: NaiveDate,
    ) -> AggregatesPager {
        let mut url = self.endpoint(&[
            "v2",
            "aggs",
            "ticker",
            ticker,
            "range",
            "1",
            tf.polygon_timespan(),
            &from.format("%Y-%m-%d").to_string(),
            &to.format("%Y-%m-%d").to_string(),
        ]);
        url.query_pairs_mut()
            .append_pair("adjusted", "true")
            .append_pair("sort", "asc")
            .append_pair("limit", &AGGREGATES_LIMIT.to_string());
        let what = format!("{ticker} {} {from}..{to}", tf.wire_name());
        let subject = format!("{ticker} {} bars {from}..{to}", tf.polygon_timespan());
        let scope = PageScope::new(ticker, tf, from, to);
        AggregatesPager::new(self.clone(), scope, what, subject, url)
    }

    /// Every aggregate bar of one ticker in `[from, to]`, following `next_url` to the end.
    pub async fn aggregates_all(
        &self,
        ticker: &str,
        tf: Timeframe,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<Bar>, PolygonError> {
        let mut pager = self.aggregates(ticker, tf, from, to);
        let mut all = Vec::new();
        while let Some(page) = pager.next_page().await? {
            all.extend(page);
        }
        Ok(all)
    }

    /// Every result of a v3 reference listing from `url`, following `next_url` to the end
    /// (guarded against a cursor that goes nowhere).
    pub(crate) async fn list_all<T: serde::de::DeserializeOwned>(
        &self,
        url: Url,
        label: &str,
    ) -> Result<Vec<T>, PolygonError> {
        let mut guard = PageGuard::new(&url, label, label);
        let mut out = Vec::new();
        let mut next = Some(url);
        while let Some(url) = next.take() {
            let resp: ListResponse<T> = self.get_json(&url, label).await?;
            let results = resp.results.unwrap_or_default();
            if let Some(n) = resp.next_url.as_deref().filter(|s| !s.trim().is_empty()) {
                let n = self.follow(n, label)?;
                guard.check(&url, results.len(), &n)?;
                next = Some(n);
            }
            out.extend(results);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `limit=50000&sort=asc`, base64 without padding, as Polygon sends it.
    const CURSOR: &str = "bGltaXQ9NTAwMDAmc29ydD1hc2M";

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn aggs(from: &str) -> Url {
        url(&format!(
            "https://api.polygon.io/v2/aggs/ticker/AAPL/range/1/minute/{from}/2024-12-31?cursor={CURSOR}"
        ))
    }

    fn first() -> Url {
        url("https://api.polygon.io/v2/aggs/ticker/AAPL/range/1/minute/2024-01-02/2024-12-31?adjusted=true&sort=asc&limit=50000")
    }

    fn guard() -> PageGuard {
        PageGuard::new(&first(), "AAPL", "AAPL minute bars 2024-01-02..2024-12-31")
    }

    /// Minute bars `[start, start + n)` minutes after `t0`.
    fn bars(t0: i64, start: i64, n: i64) -> Vec<Bar> {
        (start..start + n)
            .map(|i| Bar {
                t: t0 + i * 60_000,
                o: 1.0,
                h: 1.0,
                l: 1.0,
                c: 1.0,
                v: 1.0,
                vw: None,
                n: None,
            })
            .collect()
    }

    /// 2024-01-02 09:30 New York.
    const OPEN: i64 = 1_704_205_800_000;

    #[test]
    fn reads_the_from_of_aggregate_addresses_only() {
        assert_eq!(
            aggregates_from_ms(&aggs("1735912800000")),
            Some(1_735_912_800_000)
        );
        // A date is midnight in New York: 2024-01-02 00:00 EST = 05:00 UTC.
        assert_eq!(aggregates_from_ms(&first()), Some(1_704_171_600_000));
        assert_eq!(
            aggregates_from_ms(&url(
                "http://h/prefix/v2/aggs/ticker/BRK.B/range/1/day/2024-07-01/2024-07-31"
            )),
            Some(1_719_806_400_000)
        );
        for other in [
            "https://api.polygon.io/v3/reference/tickers?cursor=abc",
            "https://api.polygon.io/v2/aggs/grouped/locale/us/market/stocks/2024-01-02",
            "https://api.polygon.io/v2/aggs/ticker/AAPL/range/1/minute/soon/2024-12-31",
            "https://api.polygon.io/v2/aggs/ticker/AAPL/prev",
        ] {
            assert_eq!(aggregates_from_ms(&url(other)), None, "{other}");
        }
    }

    #[test]
    fn the_same_cursor_with_an_advancing_from_is_followed_across_many_pages() {
        let mut g = guard();
        let mut current = first();
        for page in 0..200 {
            let b = bars(OPEN, page * 100, 100);
            let next = aggs(&(OPEN + (page + 1) * 100 * 60_000).to_string());
            g.check_bars(&current, &b, &next)
                .unwrap_or_else(|e| panic!("page {page}: {e}"));
            current = next;
        }
    }

    #[test]
    fn a_repeated_whole_url_is_refused() {
        let mut g = guard();
        let p2 = aggs(&(OPEN + 6_000_000).to_string());
        g.check_bars(&first(), &bars(OPEN, 0, 100), &p2).unwrap();
        // The first page pointing back at itself.
        let mut g2 = guard();
        let err = g2
            .check_bars(&first(), &bars(OPEN, 0, 100), &first())
            .unwrap_err();
        assert_eq!(err.kind_name(), "paging_loop");
        assert!(!err.is_retryable());
        assert_eq!(
            err.to_string(),
            "Polygon sent the same next_url twice for AAPL minute bars 2024-01-02..2024-12-31; \
             stopped instead of looping"
        );
        assert!(matches!(err, PolygonError::PagingLoop { ref ticker, .. } if ticker == "AAPL"));
        // The same page again, with an apiKey that does not make it another page.
        let again = url(&format!(
            "https://api.polygon.io/v2/aggs/ticker/AAPL/range/1/minute/{}/2024-12-31?apiKey=k&cursor={CURSOR}",
            OPEN + 6_000_000
        ));
        let err = g.check_bars(&p2, &[], &again).unwrap_err();
        assert!(err.to_string().contains("same next_url"), "{err}");
        // Reference listings: a new cursor is a new page; an old one is a loop.
        let t1 = url("https://api.polygon.io/v3/reference/tickers?type=ETF&limit=5");
        let t2 = url("https://api.polygon.io/v3/reference/tickers?cursor=c2");
        let t3 = url("https://api.polygon.io/v3/reference/tickers?cursor=c3");
        let mut g = PageGuard::new(&t1, "reference tickers", "reference tickers");
        g.check(&t1, 5, &t2).unwrap();
        g.check(&t2, 5, &t3).unwrap();
        assert!(g.check(&t3, 5, &t2).is_err());
        assert!(g.check(&t3, 5, &t1).is_err());
    }

    #[test]
    fn a_from_that_does_not_advance_is_refused() {
        // The next from equal to the page's own from (a new cursor does not help).
        let here = aggs(&(OPEN + 6_000_000).to_string());
        let mut g = guard();
        g.check_bars(&first(), &bars(OPEN, 0, 100), &here).unwrap();
        let same_from = url(&format!(
            "https://api.polygon.io/v2/aggs/ticker/AAPL/range/1/minute/{}/2024-12-31?cursor=b2Zmc2V0PTIwMA",
            OPEN + 6_000_000
        ));
        let err = g
            .check_bars(&here, &bars(OPEN, 100, 100), &same_from)
            .unwrap_err();
        assert_eq!(err.kind_name(), "paging_loop");
        let text = err.to_string();
        assert!(text.contains("AAPL minute bars"), "{text}");
        assert!(text.contains("does not move forward"), "{text}");

        // Going back before the page's from.
        let mut g = guard();
        g.check_bars(&first(), &bars(OPEN, 0, 100), &here).unwrap();
        let back = aggs(&(OPEN + 60_000).to_string());
        assert!(g.check_bars(&here, &bars(OPEN, 100, 100), &back).is_err());

        // Later than the page's from but not later than the newest bar received.
        let mut g = guard();
        let b = bars(OPEN, 0, 100);
        let newest = b.last().unwrap().t;
        let err = g
            .check_bars(&first(), &b, &aggs(&newest.to_string()))
            .unwrap_err();
        assert!(err.to_string().contains("already received"), "{err}");
        let mut g = guard();
        g.check_bars(&first(), &b, &aggs(&(newest + 1).to_string()))
            .unwrap();

        // A date before the first page's date.
        let mut g = guard();
        let earlier = url("https://api.polygon.io/v2/aggs/ticker/AAPL/range/1/minute/2024-01-01/2024-12-31?cursor=x");
        assert!(g.check_bars(&first(), &[], &earlier).is_err());
    }

    #[test]
    fn empty_pages_are_bounded() {
        let mut g = guard();
        let mut current = first();
        let mut from = OPEN;
        let mut step = |g: &mut PageGuard, current: &mut Url, n: usize| {
            from += 1;
            let next = aggs(&from.to_string());
            let r = g.check(current, n, &next);
            *current = next;
            r
        };
        // Fewer than MAX_EMPTY_PAGES in a row, then bars: the count starts again.
        for _ in 1..MAX_EMPTY_PAGES {
            step(&mut g, &mut current, 0).unwrap();
        }
        step(&mut g, &mut current, 10).unwrap();
        for _ in 1..MAX_EMPTY_PAGES {
            step(&mut g, &mut current, 0).unwrap();
        }
        let err = step(&mut g, &mut current, 0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Polygon kept sending empty pages for AAPL minute bars 2024-01-02..2024-12-31; \
             stopped after 3"
        );
        assert!(matches!(err, PolygonError::PagingLoop { ref ticker, .. } if ticker == "AAPL"));
    }
}
