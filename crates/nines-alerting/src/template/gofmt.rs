//! Go's number formatting, as Prometheus templates print numbers: `%g`
//! with or without a precision (what `{{ $value }}` and `humanize` use),
//! and the `printf` verbs people write in annotations.

/// Significant decimal digits (no trailing zeros) and the position of the
/// decimal point relative to them (`digits × 10^(point − len)`), for a
/// finite non-negative `v`; `significant` digits, rounded, or the shortest
/// that round-trip.
fn decimal(v: f64, significant: Option<usize>) -> (Vec<u8>, i32) {
    if v == 0.0 {
        return (Vec::new(), 0);
    }
    let text = match significant {
        Some(p) => format!("{:.*e}", p.max(1) - 1, v),
        None => format!("{v:e}"),
    };
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let mut digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    while digits.len() > 1 && digits.last() == Some(&b'0') {
        digits.pop();
    }
    (digits, exponent + 1)
}

fn special(v: f64) -> Option<String> {
    if v.is_nan() {
        Some("NaN".into())
    } else if v.is_infinite() {
        Some(if v > 0.0 { "+Inf" } else { "-Inf" }.into())
    } else {
        None
    }
}

/// `digits` as `d.ddde±XX` with `fraction` digits after the point.
fn exponent_form(digits: &[u8], point: i32, fraction: usize) -> String {
    let mut out = String::new();
    out.push(char::from(*digits.first().unwrap_or(&b'0')));
    if fraction > 0 {
        out.push('.');
        for i in 1..=fraction {
            out.push(char::from(*digits.get(i).unwrap_or(&b'0')));
        }
    }
    let exp = if digits.is_empty() { 0 } else { point - 1 };
    out.push('e');
    out.push(if exp < 0 { '-' } else { '+' });
    out.push_str(&format!("{:02}", exp.unsigned_abs()));
    out
}

/// `digits` as `ddd.ddd` with `fraction` digits after the point.
fn fixed_form(digits: &[u8], point: i32, fraction: usize) -> String {
    let digit = |i: i32| -> char {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i))
            .map_or('0', |d| char::from(*d))
    };
    let mut out = String::new();
    if point > 0 {
        for i in 0..point {
            out.push(digit(i));
        }
    } else {
        out.push('0');
    }
    if fraction > 0 {
        out.push('.');
        for i in 0..fraction {
            out.push(digit(point + i as i32));
        }
    }
    out
}

/// Go's `%g` (`precision: None` is `%v`, the shortest representation).
pub fn format_g(v: f64, precision: Option<usize>) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    let sign = if v.is_sign_negative() { "-" } else { "" };
    let (digits, point) = decimal(v.abs(), precision);
    let nd = digits.len() as i32;
    let mut prec = match precision {
        None => nd,
        Some(p) => p.max(1) as i32,
    };
    let mut eprec = prec;
    if eprec > nd && nd >= point {
        eprec = nd;
    }
    if precision.is_none() {
        eprec = 6;
    }
    let exp = point - 1;
    let body = if !digits.is_empty() && (exp < -4 || exp >= eprec) {
        prec = prec.min(nd);
        exponent_form(&digits, point, (prec - 1).max(0) as usize)
    } else {
        if prec > point {
            prec = nd;
        }
        fixed_form(&digits, point, (prec - point).max(0) as usize)
    };
    format!("{sign}{body}")
}

/// Go's `%f` with `precision` decimals (6 by default).
pub fn format_f(v: f64, precision: Option<usize>) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    format!("{v:.*}", precision.unwrap_or(6))
}

/// Go's `%e` with `precision` decimals (6 by default).
pub fn format_e(v: f64, precision: Option<usize>) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    let p = precision.unwrap_or(6);
    let sign = if v.is_sign_negative() { "-" } else { "" };
    let (digits, point) = decimal(v.abs(), Some(p + 1));
    let point = if digits.is_empty() { 1 } else { point };
    format!("{sign}{}", exponent_form(&digits, point, p))
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`, as Prometheus's API
/// writes alert values: the shortest digits that read back as `v`.
pub fn format_e_shortest(v: f64) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    let sign = if v.is_sign_negative() { "-" } else { "" };
    let (digits, point) = decimal(v.abs(), None);
    let point = if digits.is_empty() { 1 } else { point };
    let decimals = digits.len().saturating_sub(1);
    format!("{sign}{}", exponent_form(&digits, point, decimals))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortest_e_matches_go() {
        for (v, want) in [
            (0.0, "0e+00"),
            (1.0, "1e+00"),
            (0.25, "2.5e-01"),
            (1234.5, "1.2345e+03"),
            (-3e-7, "-3e-07"),
            (1e100, "1e+100"),
            (f64::INFINITY, "+Inf"),
        ] {
            assert_eq!(format_e_shortest(v), want, "{v}");
        }
    }

    #[test]
    fn shortest_g_matches_go() {
        for (v, want) in [
            (0.0, "0"),
            (1.0, "1"),
            (0.1, "0.1"),
            (123456.0, "123456"),
            (1e6, "1e+06"),
            (1e21, "1e+21"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5, "-2.5"),
            (14.399999999999999, "14.399999999999999"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
        ] {
            assert_eq!(format_g(v, None), want, "{v}");
        }
    }

    #[test]
    fn g_with_precision_matches_go() {
        for (v, p, want) in [
            (1.0, 4, "1"),
            (1234.5678, 4, "1235"),
            (12345.678, 4, "1.235e+04"),
            (0.012345, 4, "0.01235"),
            (0.5, 4, "0.5"),
            (99.95, 4, "99.95"),
            (100.0, 4, "100"),
            (0.0, 4, "0"),
            (123.0, 2, "1.2e+02"),
            (1e-5, 4, "1e-05"),
        ] {
            assert_eq!(format_g(v, Some(p)), want, "{v} %.{p}g");
        }
    }

    #[test]
    fn f_and_e_match_go() {
        assert_eq!(format_f(4.56789, Some(2)), "4.57");
        assert_eq!(format_f(2.0, None), "2.000000");
        assert_eq!(format_e(1234.5, Some(2)), "1.23e+03");
        assert_eq!(format_e(0.0, None), "0.000000e+00");
        assert_eq!(format_e(-0.00012, Some(1)), "-1.2e-04");
    }

    proptest::proptest! {
        #[test]
        fn shortest_g_reads_back_to_the_same_number(bits in proptest::num::u64::ANY) {
            let v = f64::from_bits(bits);
            proptest::prop_assume!(v.is_finite());
            let text = format_g(v, None);
            proptest::prop_assert_eq!(text.parse::<f64>().ok(), Some(v), "{}", text);
        }

        #[test]
        fn g_with_precision_keeps_that_many_digits(v in -1e30f64..1e30, p in 1usize..17) {
            let text = format_g(v, Some(p));
            let back: f64 = text.parse().unwrap_or(f64::NAN);
            let digits = text.split('e').next().unwrap_or("").chars().filter(char::is_ascii_digit).collect::<String>();
            proptest::prop_assert!(digits.trim_start_matches('0').len() <= p, "{} has more than {} digits", text, p);
            proptest::prop_assert!((back - v).abs() <= v.abs() * 10f64.powi(1 - p as i32), "{} vs {}", text, v);
        }
    }
}
