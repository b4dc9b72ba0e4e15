//! Sector and industry from a Standard Industrial Classification code, as TickStock fills
//! `symbols.sector` and `symbols.industry`: the sector is the SIC division the code falls
//! in, the industry is Polygon's SIC description.

/// SIC divisions: (first code, last code, sector).
static DIVISIONS: &[(u32, u32, &str)] = &[
    (100, 999, "Agriculture, Forestry and Fishing"),
    (1000, 1499, "Mining"),
    (1500, 1799, "Construction"),
    (2000, 3999, "Manufacturing"),
    (4000, 4999, "Transportation, Communications and Utilities"),
    (5000, 5199, "Wholesale Trade"),
    (5200, 5999, "Retail Trade"),
    (6000, 6799, "Finance, Insurance and Real Estate"),
    (7000, 8999, "Services"),
    (9100, 9729, "Public Administration"),
    (9900, 9999, "Nonclassifiable"),
];

/// The sector of a SIC code (`"3571"` is Manufacturing); `None` for a code that is not
/// a number or falls in no division.
pub fn sector_of(sic_code: &str) -> Option<&'static str> {
    let code: u32 = sic_code.trim().parse().ok()?;
    DIVISIONS
        .iter()
        .find(|(lo, hi, _)| (*lo..=*hi).contains(&code))
        .map(|(_, _, s)| *s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_fall_in_their_division() {
        assert_eq!(sector_of("3571"), Some("Manufacturing"));
        assert_eq!(
            sector_of("6022"),
            Some("Finance, Insurance and Real Estate")
        );
        assert_eq!(sector_of("7372"), Some("Services"));
        assert_eq!(
            sector_of(" 0100 "),
            Some("Agriculture, Forestry and Fishing")
        );
        assert_eq!(sector_of("9800"), None);
        assert_eq!(sector_of("x"), None);
    }
}
