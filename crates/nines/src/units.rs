//! Durations (`30s`, `5m`, `1h30m`, `28d`) and byte sizes (`512MiB`) as
//! they are written in the config, parsed with messages that say what is
//! accepted.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// A duration in milliseconds written the Prometheus way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Duration(pub i64);

const DURATION_UNITS: [(&str, i64); 8] = [
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
    ("w", 604_800_000),
    ("y", 31_536_000_000),
    ("", 0),
];

/// Parses `0`, or one or more `<integer><unit>` parts, largest unit first.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    if s == "0" {
        return Ok(Duration(0));
    }
    if s.is_empty() {
        return Err("empty duration".into());
    }
    let mut rest = s;
    let mut total: i64 = 0;
    let mut last_unit = i64::MAX;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!(
                "invalid duration {s:?}: expected a number at {rest:?} (write e.g. 30s, 5m, 1h30m, 28d)"
            ));
        }
        let n: i64 = rest[..digits]
            .parse()
            .map_err(|_| format!("invalid duration {s:?}: number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        let Some(&(_, ms)) = DURATION_UNITS.iter().find(|(u, _)| *u == unit && !u.is_empty()) else {
            return Err(format!(
                "invalid duration {s:?}: unknown unit {unit:?} (use ms, s, m, h, d, w, y)"
            ));
        };
        if ms >= last_unit {
            return Err(format!(
                "invalid duration {s:?}: units must go from largest to smallest"
            ));
        }
        last_unit = ms;
        total = n
            .checked_mul(ms)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("invalid duration {s:?}: too large"))?;
        rest = &rest[unit_len..];
    }
    Ok(Duration(total))
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return write!(f, "0s");
        }
        let mut rest = self.0;
        for (unit, ms) in DURATION_UNITS.iter().rev().filter(|(u, _)| !u.is_empty()) {
            if rest >= *ms {
                write!(f, "{}{unit}", rest / ms)?;
                rest %= ms;
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as 30s, 5m, 2h or 28d")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                parse_duration(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
                if v == 0 {
                    Ok(Duration(0))
                } else {
                    Err(E::custom(format!("invalid duration {v}: give a unit, e.g. {v}s")))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// A size in bytes: `0`, `4096`, `512KiB`, `128MiB`, `10GB`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

const SIZE_UNITS: [(&str, u64); 11] = [
    ("", 1),
    ("B", 1),
    ("KB", 1_000),
    ("MB", 1_000_000),
    ("GB", 1_000_000_000),
    ("TB", 1_000_000_000_000),
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("TiB", 1 << 40),
    ("PB", 1_000_000_000_000_000),
];

/// Parses a byte size.
pub fn parse_size(s: &str) -> Result<ByteSize, String> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(format!("invalid size {s:?}: expected a number such as 512MiB or 10GB"));
    }
    let n: u64 = s[..digits]
        .parse()
        .map_err(|_| format!("invalid size {s:?}: number too large"))?;
    let unit = s[digits..].trim_start();
    let Some(&(_, mult)) = SIZE_UNITS.iter().find(|(u, _)| *u == unit) else {
        return Err(format!(
            "invalid size {s:?}: unknown unit {unit:?} (use B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)"
        ));
    };
    n.checked_mul(mult)
        .map(ByteSize)
        .ok_or_else(|| format!("invalid size {s:?}: too large"))
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as 512MiB or 10GB")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                parse_size(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration(30_000)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration(5_400_000)));
        assert_eq!(parse_duration("28d"), Ok(Duration(28 * 86_400_000)));
        assert_eq!(parse_duration("0"), Ok(Duration(0)));
        assert!(parse_duration("30x").unwrap_err().contains("unknown unit \"x\""));
        assert!(parse_duration("5m1h").unwrap_err().contains("largest to smallest"));
        assert!(parse_duration("h").is_err());
        assert_eq!(Duration(5_400_000).to_string(), "1h30m");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("128MiB"), Ok(ByteSize(128 << 20)));
        assert_eq!(parse_size("10GB"), Ok(ByteSize(10_000_000_000)));
        assert_eq!(parse_size("0"), Ok(ByteSize(0)));
        assert!(parse_size("1XB").unwrap_err().contains("unknown unit"));
    }
}
