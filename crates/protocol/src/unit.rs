//! The two values that travel most between the loader, the checkpoints and the stores:
//! a [`Ticker`] (trimmed, upper case, checked by [`check_ticker`]) and a
//! [`Unit`], the (symbol, timeframe) a job loads and checkpoints.
//!
//! A unit's stored form is `SYMBOL|timeframe` with the timeframe's wire name
//! (`AAPL|1min`, `MSFT|day`): the members of a job's Redis checkpoint set and the fields
//! of its rows hash. [`Unit`]'s `Display` writes exactly that and `FromStr` reads it, so
//! checkpoints written before the type existed are read as they are. The database keeps
//! the two halves in their own columns (`job_checkpoints.symbol`, `timeframe`).

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{quote_input, Error};
use crate::timeframe::Timeframe;

/// A ticker symbol: trimmed, upper case, letters, digits, `.` and `-` only, at most
/// [`MAX_TICKER_LEN`] characters. Reads as a `&str` wherever one is wanted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Ticker(String);

impl Ticker {
    /// Trims and upper-cases `s` and checks it is a ticker; the error says why not.
    pub fn parse(s: &str) -> Result<Ticker, String> {
        let t = s.trim().to_ascii_uppercase();
        check_ticker(&t)?;
        Ok(Ticker(t))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Ticker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Ticker {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ticker::parse(s).map_err(Error::invalid)
    }
}

impl TryFrom<String> for Ticker {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Ticker::parse(&s)
    }
}

impl From<Ticker> for String {
    fn from(t: Ticker) -> String {
        t.0
    }
}

impl Deref for Ticker {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Ticker {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Lets a `HashSet<Ticker>` or `HashMap<Ticker, _>` be asked with a `&str`.
impl Borrow<str> for Ticker {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Ticker {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Ticker {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// One unit of a loading job: one symbol in one timeframe. Written and read as
/// `SYMBOL|timeframe` (see the module's notes).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Unit {
    pub symbol: Ticker,
    pub timeframe: Timeframe,
}

impl Unit {
    pub fn new(symbol: Ticker, timeframe: Timeframe) -> Unit {
        Unit { symbol, timeframe }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}|{}", self.symbol, self.timeframe.wire_name())
    }
}

impl FromStr for Unit {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: String| {
            Error::invalid(format!(
                "unit {} is not SYMBOL|timeframe: {why}",
                quote_input(s)
            ))
        };
        let (symbol, tf) = s.split_once('|').ok_or_else(|| bad("no `|`".to_string()))?;
        let symbol = Ticker::parse(symbol).map_err(bad)?;
        let timeframe = tf.parse::<Timeframe>().map_err(|e| bad(e.to_string()))?;
        Ok(Unit { symbol, timeframe })
    }
}

/// Longest ticker accepted.
pub const MAX_TICKER_LEN: usize = 10;

/// Checks one ticker's syntax (already upper case): letters, digits, `.` and `-`, 1–10
/// characters, starting with a letter or digit.
pub fn check_ticker(t: &str) -> std::result::Result<(), String> {
    if t.is_empty() {
        return Err("empty symbol".into());
    }
    if t.len() > MAX_TICKER_LEN {
        return Err(format!(
            "symbol {} is longer than {MAX_TICKER_LEN} characters",
            quote_input(t)
        ));
    }
    let first_ok = t.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !first_ok
        || !t
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '.' || c == '-')
    {
        return Err(format!(
            "Symbol {} is not a valid ticker (letters, digits, \".\" and \"-\" only)",
            quote_input(t)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Ticker {
        Ticker::parse(s).unwrap()
    }

    #[test]
    fn tickers_are_trimmed_upper_case_and_checked() {
        assert_eq!(t(" brk.b "), "BRK.B");
        assert!(Ticker::parse("").is_err());
        assert!(Ticker::parse("A B").is_err());
        assert!(Ticker::parse("A|B").is_err());
        assert!(Ticker::parse("TOOLONGTICKER").is_err());
        assert!("$X".parse::<Ticker>().is_err());
        let back: Ticker = serde_json::from_str("\"aapl\"").unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), "\"AAPL\"");
        assert!(serde_json::from_str::<Ticker>("\"a b\"").is_err());
    }

    #[test]
    fn units_keep_the_stored_form() {
        let u = Unit::new(t("AAPL"), Timeframe::Minute);
        assert_eq!(u.to_string(), "AAPL|1min");
        assert_eq!("AAPL|1min".parse::<Unit>().unwrap(), u);
        for tf in Timeframe::ALL {
            let u = Unit::new(t("BRK-B"), tf);
            assert_eq!(u.to_string().parse::<Unit>().unwrap(), u);
        }
        // What older writers may have stored reads the same.
        assert_eq!(
            "msft|minute".parse::<Unit>().unwrap().to_string(),
            "MSFT|1min"
        );
    }

    #[test]
    fn malformed_units_say_what_is_wrong() {
        for bad in ["AAPL", "AAPL|", "|day", "AAPL|fortnight", "A B|day"] {
            let e = bad.parse::<Unit>().unwrap_err();
            assert!(e.message().contains("SYMBOL|timeframe"), "{bad}: {e}");
        }
    }
}
