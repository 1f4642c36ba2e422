//! Amounts. Inside: integer cents (`i64`), never floats. On the wire: strict decimal strings in
//! dollars (`"10"`, `"10.5"`, `"10.50"`: no sign, no exponent, no whitespace, at most two
//! decimals, at most [`MAX_CENTS`]), always written back with two decimals; where the contract
//! has a numeric `amount`, dollars as a JSON number with at most two decimals.

use crate::error::FieldError;

/// The largest amount one request may move: 1,000,000.00.
pub const MAX_CENTS: i64 = 100_000_000;

/// A strict decimal in hundredths (`"4"`, `"4.9"`, `"4.99"`), up to 12 whole digits; `None`
/// when it is anything else. Cents for prices, hundredths of a star for ratings.
pub fn hundredths(s: &str) -> Option<i64> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || whole.len() > 12 || !digits(whole) || frac.len() > 2 || !digits(frac) {
        return None;
    }
    if s.contains('.') && frac.is_empty() {
        return None;
    }
    let frac = format!("{frac:0<2}");
    Some(whole.parse::<i64>().ok()? * 100 + frac.parse::<i64>().ok()?)
}

/// An amount a request moves: a strict dollar string, more than zero and at most
/// [`MAX_CENTS`]; 422 naming `field` otherwise.
pub fn amount(field: &str, s: &str) -> Result<i64, FieldError> {
    match hundredths(s) {
        Some(c) if c > 0 && c <= MAX_CENTS => Ok(c),
        Some(0) => Err(FieldError::new(field, "must be more than 0.00")),
        Some(_) => Err(FieldError::new(field, "must be at most 1000000.00")),
        None => Err(FieldError::new(
            field,
            "must be a dollar amount as a string with at most two decimals, like \"10\" or \"10.00\" (no sign, no exponent)",
        )),
    }
}

/// Cents as a dollar string with two decimals: `1050` → `"10.50"`.
pub fn dollars(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let c = cents.unsigned_abs();
    format!("{sign}{}.{:02}", c / 100, c % 100)
}

/// Hundredths (cents, hundredths of a star) as the number they stand for (`1050` → `10.5`): the
/// nearest double, since IEEE division of two exact integers is correctly rounded (every amount
/// here is below 2^53).
pub fn from_hundredths(n: i64) -> f64 {
    n as f64 / 100.0
}

/// Cents as a JSON number of dollars, for the fields the contract types as numbers.
pub fn dollars_number(cents: i64) -> serde_json::Number {
    serde_json::Number::from_f64(from_hundredths(cents)).unwrap_or_else(|| 0.into())
}

/// `#[serde(serialize_with = "crate::money::as_number")]`: hundredths as the JSON number.
pub fn as_number<S: serde::Serializer>(n: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(from_hundredths(*n))
}

/// `#[serde(deserialize_with = "crate::money::from_number")]`: the JSON number [`as_number`]
/// wrote, back to hundredths (the nearest, which is the one written: every amount is far below
/// 2^53 hundredths).
pub fn from_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let x = <f64 as serde::Deserialize>::deserialize(d)?;
    Ok((x * 100.0).round() as i64)
}

/// The fee in basis points of `gross`, rounded down to the cent (the user never pays a
/// fraction of a cent more than the rate).
pub fn fee(gross: i64, bps: u32) -> i64 {
    (i128::from(gross) * i128::from(bps) / 10_000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn strict_strings() {
        for (s, c) in [("10", 1000), ("10.5", 1050), ("10.50", 1050), ("0.01", 1), ("1000000.00", MAX_CENTS)] {
            assert_eq!(amount("amount", s), Ok(c), "{s}");
        }
        for s in [
            "",
            " 1",
            "1 ",
            "-1",
            "+1",
            "1e2",
            "1.",
            ".5",
            "1.001",
            "1,00",
            "0",
            "0.00",
            "1000000.01",
            "0x10",
            "١٠",
            "NaN",
            "Infinity",
            "1_000",
        ] {
            assert!(amount("amount", s).is_err(), "{s:?} accepted");
        }
        assert_eq!(dollars(0), "0.00");
        assert_eq!(dollars(5), "0.05");
        assert_eq!(dollars(123456), "1234.56");
        assert_eq!(dollars(-5), "-0.05");
        assert_eq!(dollars_number(1050).to_string(), "10.5");
        assert_eq!(dollars_number(1).to_string(), "0.01");
        assert_eq!(fee(1000, 500), 50);
        assert_eq!(fee(1, 500), 0);
        assert_eq!(fee(199, 9999), 198);
    }

    proptest! {
        /// Whatever the string, an accepted amount is in range and writes back as the same value.
        #[test]
        fn parse_accepts_only_what_it_can_write_back(s in "\\PC{0,14}") {
            if let Ok(c) = amount("amount", &s) {
                prop_assert!(c > 0 && c <= MAX_CENTS);
                prop_assert_eq!(hundredths(&dollars(c)), Some(c));
                prop_assert!(s.bytes().all(|b| b.is_ascii_digit() || b == b'.'));
            }
        }

        #[test]
        fn cents_round_trip(c in 1i64..=MAX_CENTS) {
            prop_assert_eq!(amount("amount", &dollars(c)), Ok(c));
            prop_assert_eq!(dollars_number(c).as_f64().map(|f| (f * 100.0).round() as i64), Some(c));
        }

        /// What `as_number` writes, `from_number` reads back exactly (a kept answer replays as given).
        #[test]
        fn number_fields_round_trip(c in 0i64..=1_000_000_000_000) {
            #[derive(serde::Serialize, serde::Deserialize)]
            struct W(#[serde(serialize_with = "as_number", deserialize_with = "from_number")] i64);
            let back: W = serde_json::from_str(&serde_json::to_string(&W(c)).unwrap()).unwrap();
            prop_assert_eq!(back.0, c);
        }
    }
}
