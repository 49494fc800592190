//! Durations as PromQL users write them.

/// Parses a duration the way PromQL tools write them: `5m`, `1h30m`,
/// `10s53ms`, or (possibly fractional) seconds; a leading `-` negates.
/// Returns milliseconds.
pub fn parse_duration_ms(s: &str) -> Option<i64> {
    if let Ok(n) = s.parse::<i64>() {
        return n.checked_mul(1000);
    }
    if let Ok(f) = s.parse::<f64>() {
        let ms = (f * 1000.0).round();
        return (ms.is_finite() && ms.abs() < 9.2e18).then_some(ms as i64);
    }
    let mut total = 0i64;
    let mut rest = s;
    let negative = rest.starts_with('-');
    if negative {
        rest = &rest[1..];
    }
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let n: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let ms = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "y" => 31_536_000_000,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(ms)?)?;
        rest = &rest[unit_len..];
    }
    Some(if negative { -total } else { total })
}

/// Formats milliseconds the way configs write durations (`30d`, `1h30m`).
pub fn format_duration_ms(ms: i64) -> String {
    const UNITS: [(&str, i64); 6] = [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
        ("", 0),
    ];
    if ms <= 0 {
        return "0s".into();
    }
    let mut rest = ms;
    let mut out = String::new();
    for (unit, size) in UNITS.iter().filter(|(_, s)| *s > 0) {
        if rest >= *size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::parse_duration_ms;

    #[test]
    fn durations_parse_and_overflow_is_refused() {
        assert_eq!(parse_duration_ms("1h30m"), Some(5_400_000));
        assert_eq!(parse_duration_ms("10s53ms"), Some(10_053));
        assert_eq!(parse_duration_ms("1.5"), Some(1_500));
        assert_eq!(parse_duration_ms("-5m"), Some(-300_000));
        assert_eq!(parse_duration_ms(""), None);
        assert_eq!(parse_duration_ms("inf"), None);
        assert_eq!(parse_duration_ms("5x"), None);
        assert_eq!(parse_duration_ms("99999999999999999y"), None);
        assert_eq!(parse_duration_ms("9223372036854775807"), None);
    }
}
