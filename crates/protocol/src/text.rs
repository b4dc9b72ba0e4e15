//! Words for operators: counts with the noun's right number ("1 symbol", "2 symbols",
//! "12,500 bars") and durations ("4 min 12 s"), so no message says "1 symbols".

/// `n` with thousands separated by commas.
pub fn number(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The plural of a noun as these messages use them (`entry` → `entries`, `symbol` →
/// `symbols`; the last word of a phrase).
pub fn plural(noun: &str) -> String {
    if let Some(stem) = noun
        .strip_suffix('y')
        .filter(|s| !s.ends_with(['a', 'e', 'i', 'o', 'u']))
    {
        format!("{stem}ies")
    } else if noun.ends_with('s') || noun.ends_with('x') || noun.ends_with("ch") {
        format!("{noun}es")
    } else {
        format!("{noun}s")
    }
}

/// `n noun` with the noun in the right number: "1 symbol", "2 symbols", "0 jobs".
pub fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{} {}", number(n), plural(noun))
    }
}

/// A duration in seconds as "45 s", "4 min 12 s", "3 h 5 min" or "2 d 4 h".
pub fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        3600..86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_take_the_right_number() {
        assert_eq!(count(1, "symbol"), "1 symbol");
        assert_eq!(count(0, "job"), "0 jobs");
        assert_eq!(count(12_500, "bar"), "12,500 bars");
        assert_eq!(count(2, "entry"), "2 entries");
        assert_eq!(count(2, "day"), "2 days");
        assert_eq!(count(3, "Polygon request"), "3 Polygon requests");
        assert_eq!(number(1_000_000), "1,000,000");
        assert_eq!(number(999), "999");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(45.2), "45 s");
        assert_eq!(duration(252.0), "4 min 12 s");
        assert_eq!(duration(3.0 * 3600.0 + 300.0), "3 h 5 min");
        assert_eq!(duration(2.0 * 86_400.0 + 4.0 * 3600.0), "2 d 4 h");
    }
}
