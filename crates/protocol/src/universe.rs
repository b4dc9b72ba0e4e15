//! Universes: named lists of symbols (`sp500`, `nasdaq100`, `dow30`, `etf`, and any the
//! operator imports). Built-in member lists ship as CSV files in `crates/protocol/universes/`,
//! each with its as-of date, and are seeded into the universe tables on first use.
//!
//! Keys are compared in canonical form: lower case, with `_`, `-` and spaces removed, and
//! ETF tickers that track an index standing for that index (`SPY` = `sp500`). A
//! colon-joined key (`SPY:nasdaq100`) means the union of its parts.

/// A universe whose members ship with the app.
#[derive(Debug, Clone, Copy)]
pub struct BuiltinUniverse {
    /// Canonical key.
    pub key: &'static str,
    /// Display name.
    pub name: &'static str,
    /// `UNIVERSE` for an index, `ETF` for the ETF list.
    pub kind: &'static str,
    csv: &'static str,
}

static BUILTIN: &[BuiltinUniverse] = &[
    BuiltinUniverse {
        key: "sp500",
        name: "S&P 500",
        kind: "UNIVERSE",
        csv: include_str!("../universes/sp500.csv"),
    },
    BuiltinUniverse {
        key: "nasdaq100",
        name: "NASDAQ 100",
        kind: "UNIVERSE",
        csv: include_str!("../universes/nasdaq100.csv"),
    },
    BuiltinUniverse {
        key: "dow30",
        name: "Dow Jones 30",
        kind: "UNIVERSE",
        csv: include_str!("../universes/dow30.csv"),
    },
    BuiltinUniverse {
        key: "etf",
        name: "Core ETFs",
        kind: "ETF",
        csv: include_str!("../universes/etf.csv"),
    },
];

/// Other names for the built-in keys, as TickStock and its operators write them.
static ALIASES: &[(&str, &str)] = &[
    ("spy", "sp500"),
    ("snp500", "sp500"),
    ("qqq", "nasdaq100"),
    ("ndx", "nasdaq100"),
    ("dia", "dow30"),
    ("dji", "dow30"),
    ("etfs", "etf"),
    ("etfcore", "etf"),
    ("etfuniverse", "etf"),
];

impl BuiltinUniverse {
    /// The date the member list was taken (`# as_of: YYYY-MM-DD` in the file).
    pub fn as_of(&self) -> Option<chrono::NaiveDate> {
        self.csv
            .lines()
            .filter_map(|l| l.trim().strip_prefix('#'))
            .filter_map(|l| l.trim().strip_prefix("as_of:"))
            .find_map(|d| chrono::NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").ok())
    }

    /// Member tickers, upper case, in file order.
    pub fn members(&self) -> Vec<String> {
        parse_members(self.csv)
    }
}

/// Reads a universe CSV: `#` lines are comments, the first other line is a header whose
/// first column (or the column named `symbol`/`ticker`) holds the tickers.
pub fn parse_members(csv: &str) -> Vec<String> {
    let mut lines = csv
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let col = header
        .split(',')
        .position(|h| {
            matches!(
                h.trim().trim_matches('"').to_ascii_lowercase().as_str(),
                "symbol" | "ticker"
            )
        })
        .unwrap_or(0);
    let mut seen = std::collections::HashSet::new();
    lines
        .filter_map(|l| l.split(',').nth(col))
        .map(|s| s.trim().trim_matches('"').to_ascii_uppercase())
        .filter(|s| !s.is_empty())
        .filter(|s| seen.insert(s.clone()))
        .collect()
}

/// Every built-in universe.
pub fn builtin() -> &'static [BuiltinUniverse] {
    BUILTIN
}

/// A key spelled plainly: lower case, `_`/`-`/spaces removed, no alias resolved
/// (`SP_500` and `sp500` are the same name; `SPY` stays `spy`).
pub fn normal_form(key: &str) -> String {
    key.trim()
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Canonical form of one key: lower case, `_`/`-`/spaces removed, aliases resolved.
pub fn canonical_key(key: &str) -> String {
    let k = normal_form(key);
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == k)
        .map(|(_, target)| (*target).to_string())
        .unwrap_or(k)
}

/// The built-in universe with this key (any spelling), if there is one.
pub fn find_builtin(key: &str) -> Option<&'static BuiltinUniverse> {
    let k = canonical_key(key);
    BUILTIN.iter().find(|u| u.key == k)
}

/// Splits a colon-joined key into its canonical parts, dropping empty parts and repeats.
pub fn split_keys(joined: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for part in joined.split(':') {
        if part.trim().is_empty() {
            continue;
        }
        let k = canonical_key(part);
        if !out.contains(&k) {
            out.push(k);
        }
    }
    out
}

/// Splits a colon-joined key into its parts as written (trimmed), dropping empty parts
/// and exact repeats: a database group is looked up by the name the operator wrote.
pub fn split_raw_keys(joined: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for part in joined.split(':').map(str::trim).filter(|p| !p.is_empty()) {
        if !out.iter().any(|o| o == part) {
            out.push(part.to_string());
        }
    }
    out
}

/// Whether a key part is well formed: letters, digits, `_`, `-`, at most 64 characters.
pub fn is_valid_key_syntax(part: &str) -> bool {
    let p = part.trim();
    !p.is_empty()
        && p.len() <= 64
        && p.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_canonicalised_and_aliased() {
        assert_eq!(canonical_key("SP500"), "sp500");
        assert_eq!(canonical_key("sp_500"), "sp500");
        assert_eq!(canonical_key("SPY"), "sp500");
        assert_eq!(canonical_key("NASDAQ100"), "nasdaq100");
        assert_eq!(split_keys("SPY:nasdaq100:QQQ"), vec!["sp500", "nasdaq100"]);
        assert!(find_builtin("DOW30").is_some());
        assert!(find_builtin("nope").is_none());
    }

    #[test]
    fn builtin_lists_parse_with_their_dates() {
        for u in builtin() {
            assert!(!u.members().is_empty(), "{} has members", u.key);
            assert!(u.as_of().is_some(), "{} has an as-of date", u.key);
        }
    }

    #[test]
    fn members_come_from_the_symbol_column() {
        let csv = "# c\nname,Symbol\nApple,aapl\nMicrosoft,MSFT\nApple again,AAPL\n";
        assert_eq!(parse_members(csv), vec!["AAPL", "MSFT"]);
    }
}
