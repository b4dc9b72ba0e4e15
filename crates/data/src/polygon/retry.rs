//! Backoff delays. Server-side failures (5xx, HTML pages, timeouts, broken or truncated
//! bodies) back off exponentially from half a second with jitter; 429 answers back off
//! from five seconds (5, 10, 20, 40, 60 s) because on the free plan the budget refills
//! only once a minute: retrying after fractions of a second just burns requests.
//! Both are capped by the configured maximum.

use std::time::Duration;

use rand::Rng;

/// First delay after a server-side failure.
pub const SERVER_BASE: Duration = Duration::from_millis(500);
/// First delay after a 429 without `Retry-After`.
pub const RATE_LIMIT_BASE: Duration = Duration::from_secs(5);
/// The longest `Retry-After` honoured as sent; longer values are cut to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(15 * 60);

/// `base * 2^attempt`, capped at `cap` (attempt 0 is the first retry).
pub fn exponential(base: Duration, attempt: u32, cap: Duration) -> Duration {
    let factor = 1u32.checked_shl(attempt.min(30)).unwrap_or(u32::MAX);
    base.checked_mul(factor).unwrap_or(cap).min(cap)
}

/// The delay before retry number `attempt` (0-based) after a server-side failure:
/// "equal jitter", i.e. between half and all of the exponential delay.
pub fn server_delay(attempt: u32, cap: Duration) -> Duration {
    let full = exponential(SERVER_BASE, attempt, cap);
    jitter(full, 0.5)
}

/// The delay before retry number `attempt` (0-based) of a 429: the server's `Retry-After`
/// when it sent one (at most [`MAX_RETRY_AFTER`]), else 5 s doubling up to `cap`, plus up
/// to 10 % jitter so that several workers sharing a key do not return in lockstep.
pub fn rate_limited_delay(attempt: u32, retry_after: Option<Duration>, cap: Duration) -> Duration {
    match retry_after {
        Some(d) => d.min(MAX_RETRY_AFTER),
        None => {
            let full = exponential(RATE_LIMIT_BASE, attempt, cap);
            // Jitter upwards only a little, and never past the cap.
            jitter_up(full, 0.1).min(cap.max(full))
        }
    }
}

/// Between `(1 - spread) * d` and `d`.
fn jitter(d: Duration, spread: f64) -> Duration {
    if d.is_zero() {
        return d;
    }
    let f: f64 = rand::rng().random_range((1.0 - spread)..=1.0);
    d.mul_f64(f)
}

/// Between `d` and `(1 + spread) * d`.
fn jitter_up(d: Duration, spread: f64) -> Duration {
    if d.is_zero() {
        return d;
    }
    let f: f64 = rand::rng().random_range(1.0..=(1.0 + spread));
    d.mul_f64(f)
}

/// Parses a `Retry-After` header given in seconds (the HTTP-date form is ignored).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    v.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(MAX_RETRY_AFTER.as_secs_f64())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_backoff_doubles_from_half_a_second_and_is_capped() {
        let cap = Duration::from_secs(60);
        for (attempt, full_ms) in [(0, 500), (1, 1000), (2, 2000), (3, 4000), (4, 8000)] {
            let d = server_delay(attempt, cap);
            assert!(
                d >= Duration::from_millis(full_ms / 2) && d <= Duration::from_millis(full_ms),
                "attempt {attempt}: {d:?}"
            );
        }
        assert!(server_delay(20, cap) <= cap);
        assert!(server_delay(u32::MAX, cap) <= cap);
        assert!(server_delay(3, Duration::from_millis(50)) <= Duration::from_millis(50));
    }

    #[test]
    fn rate_limit_backoff_goes_5_10_20_40_60() {
        let cap = Duration::from_secs(60);
        let expected = [5u64, 10, 20, 40, 60, 60];
        for (attempt, secs) in expected.iter().enumerate() {
            let d = rate_limited_delay(attempt as u32, None, cap);
            let base = Duration::from_secs(*secs);
            assert!(
                d >= base && d <= base.mul_f64(1.1).min(cap.max(base)),
                "attempt {attempt}: {d:?}"
            );
        }
        // A small cap wins over the 5 s base.
        assert_eq!(
            rate_limited_delay(0, None, Duration::from_millis(50)),
            Duration::from_millis(50)
        );
    }

    #[test]
    fn retry_after_is_honoured_as_sent() {
        let cap = Duration::from_millis(50);
        assert_eq!(
            rate_limited_delay(0, Some(Duration::from_secs(7)), cap),
            Duration::from_secs(7)
        );
        assert_eq!(
            rate_limited_delay(0, Some(Duration::from_secs(86_400)), cap),
            MAX_RETRY_AFTER
        );
        assert_eq!(parse_retry_after(" 12 "), Some(Duration::from_secs(12)));
        assert_eq!(parse_retry_after("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-3"), None);
    }
}
