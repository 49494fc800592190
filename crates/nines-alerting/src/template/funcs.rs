//! The functions templates can call: Prometheus's template functions
//! (those that need no query) and Go's built-ins that rules use.

use super::gofmt::{format_e, format_f, format_g};
use super::{TemplateError, Value};

const FUNCTIONS: [&str; 24] = [
    "printf",
    "humanize",
    "humanize1024",
    "humanizeDuration",
    "humanizePercentage",
    "humanizeTimestamp",
    "title",
    "toUpper",
    "toLower",
    "reReplaceAll",
    "match",
    "stripPort",
    "stripDomain",
    "safeHtml",
    "index",
    "len",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "and",
    "or",
];

/// Whether `name` is a function templates can call.
pub fn exists(name: &str) -> bool {
    FUNCTIONS.contains(&name) || name == "not" || name == "print" || name == "println"
}

fn err(msg: impl Into<String>) -> TemplateError {
    TemplateError(msg.into())
}

fn arity(name: &str, args: &[Value], n: usize) -> Result<(), TemplateError> {
    if args.len() == n {
        Ok(())
    } else {
        Err(err(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        )))
    }
}

/// A number from a number or a numeric string, as Prometheus converts.
fn number(name: &str, v: &Value) -> Result<f64, TemplateError> {
    match v {
        Value::Number(n) => Ok(*n),
        Value::Str(s) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| err(format!("{name}: {s:?} is not a number"))),
        Value::Bool(_) | Value::Nil | Value::Map(_) => Err(err(format!("{name}: {} is not a number", v.render()))),
    }
}

fn string(v: &Value) -> String {
    v.render()
}

/// Calls `name` with `args` (a piped value comes last).
pub fn call(name: &str, args: Vec<Value>) -> Result<Value, TemplateError> {
    let one = |args: &[Value]| -> Result<f64, TemplateError> {
        arity(name, args, 1)?;
        number(name, &args[0])
    };
    let text = |args: &[Value]| -> Result<String, TemplateError> {
        arity(name, args, 1)?;
        Ok(string(&args[0]))
    };
    Ok(match name {
        "printf" => {
            let (format, rest) = args.split_first().ok_or_else(|| err("printf needs a format"))?;
            Value::Str(sprintf(&string(format), rest))
        }
        "print" => Value::Str(args.iter().map(string).collect::<Vec<_>>().join("")),
        "println" => Value::Str(args.iter().map(string).collect::<Vec<_>>().join(" ") + "\n"),
        "humanize" => Value::Str(humanize(one(&args)?)),
        "humanize1024" => Value::Str(humanize_1024(one(&args)?)),
        "humanizeDuration" => Value::Str(humanize_duration(one(&args)?)),
        "humanizePercentage" => Value::Str(format!("{}%", format_g(one(&args)? * 100.0, Some(4)))),
        "humanizeTimestamp" => Value::Str(humanize_timestamp(one(&args)?)),
        "title" => Value::Str(title(&text(&args)?)),
        "toUpper" => Value::Str(text(&args)?.to_uppercase()),
        "toLower" => Value::Str(text(&args)?.to_lowercase()),
        "safeHtml" => Value::Str(text(&args)?),
        "stripPort" => Value::Str(strip_port(&text(&args)?)),
        "stripDomain" => Value::Str(strip_domain(&text(&args)?)),
        "reReplaceAll" => {
            arity(name, &args, 3)?;
            let re = regex::Regex::new(&string(&args[0])).map_err(|e| err(format!("reReplaceAll: {e}")))?;
            // Go's `$1`/`${name}` expansion is the regex crate's too.
            Value::Str(
                re.replace_all(&string(&args[2]), string(&args[1]).as_str())
                    .into_owned(),
            )
        }
        "match" => {
            arity(name, &args, 2)?;
            let re = regex::Regex::new(&string(&args[0])).map_err(|e| err(format!("match: {e}")))?;
            Value::Bool(re.is_match(&string(&args[1])))
        }
        "index" => {
            arity(name, &args, 2)?;
            match &args[0] {
                Value::Map(m) => Value::Str(m.get(&string(&args[1])).cloned().unwrap_or_default()),
                other => return Err(err(format!("can't index {}", other.render()))),
            }
        }
        "len" => {
            arity(name, &args, 1)?;
            match &args[0] {
                Value::Map(m) => Value::Number(m.len() as f64),
                Value::Str(s) => Value::Number(s.len() as f64),
                other => return Err(err(format!("len of {}", other.render()))),
            }
        }
        "not" => {
            arity(name, &args, 1)?;
            Value::Bool(!args[0].truthy())
        }
        "and" | "or" => {
            if args.is_empty() {
                return Err(err(format!("{name} needs arguments")));
            }
            let stop = |v: &Value| if name == "and" { !v.truthy() } else { v.truthy() };
            let last = args.len() - 1;
            let at = args.iter().position(stop).unwrap_or(last);
            args.into_iter().nth(at).unwrap_or(Value::Nil)
        }
        "eq" | "ne" | "lt" | "le" | "gt" | "ge" => {
            arity(name, &args, 2)?;
            Value::Bool(compare(name, &args[0], &args[1])?)
        }
        _ => return Err(err(format!("function {name:?} not defined"))),
    })
}

fn compare(op: &str, a: &Value, b: &Value) -> Result<bool, TemplateError> {
    use std::cmp::Ordering;
    let ordering = match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.partial_cmp(y),
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) if matches!(op, "eq" | "ne") => Some(x.cmp(y)),
        _ => return Err(err(format!("incompatible types for comparison: {op}"))),
    };
    Ok(match op {
        "eq" => ordering == Some(Ordering::Equal),
        "ne" => ordering != Some(Ordering::Equal),
        "lt" => ordering == Some(Ordering::Less),
        "le" => matches!(ordering, Some(Ordering::Less | Ordering::Equal)),
        "gt" => ordering == Some(Ordering::Greater),
        _ => matches!(ordering, Some(Ordering::Greater | Ordering::Equal)),
    })
}

fn humanize(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format_g(v, Some(4));
    }
    let mut v = v;
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", format_g(v, Some(4)))
}

fn humanize_1024(v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return format_g(v, Some(4));
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", format_g(v, Some(4)))
}

fn humanize_duration(v: f64) -> String {
    if !v.is_finite() {
        return format_g(v, Some(4));
    }
    if v == 0.0 {
        return format!("{}s", format_g(v, Some(4)));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        let v = v.abs();
        let whole = v as i64;
        let (seconds, minutes, hours, days) = (whole % 60, (whole / 60) % 60, (whole / 3600) % 24, whole / 86_400);
        return if days != 0 {
            format!("{sign}{days}d {hours}h {minutes}m {seconds}s")
        } else if hours != 0 {
            format!("{sign}{hours}h {minutes}m {seconds}s")
        } else if minutes != 0 {
            format!("{sign}{minutes}m {seconds}s")
        } else {
            format!("{sign}{}s", format_g(v, Some(4)))
        };
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", format_g(v, Some(4)))
}

/// Go's `time.Time` printing of a Unix time in seconds, in UTC.
fn humanize_timestamp(v: f64) -> String {
    if !v.is_finite() {
        return format_g(v, Some(4));
    }
    let nanos = (v * 1e9) as i128;
    let Ok(ts) = jiff::Timestamp::from_nanosecond(nanos) else {
        return format_g(v, Some(4));
    };
    let dt = ts.to_zoned(jiff::tz::TimeZone::UTC).datetime();
    let frac = dt.subsec_nanosecond();
    let mut s = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    );
    if frac != 0 {
        let digits = format!("{frac:09}");
        s.push('.');
        s.push_str(digits.trim_end_matches('0'));
    }
    s.push_str(" +0000 UTC");
    s
}

fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !(c.is_alphanumeric() || c == '_' || c == '\'');
    }
    out
}

fn strip_port(host: &str) -> String {
    if let Some(rest) = host.strip_prefix('[') {
        if let Some(end) = rest.find(']') {
            return rest[..end].to_string();
        }
    }
    match host.rsplit_once(':') {
        Some((h, _)) if !h.contains(':') => h.to_string(),
        _ => host.to_string(),
    }
}

fn strip_domain(host: &str) -> String {
    let (name, port) = match host.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, Some(p)),
        _ => (host, None),
    };
    if name.parse::<std::net::IpAddr>().is_ok() {
        return host.to_string();
    }
    let short = name.split('.').next().unwrap_or(name);
    match port {
        Some(p) => format!("{short}:{p}"),
        None => short.to_string(),
    }
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%v %s %d %f %e %g %q
/// %x %%`, with flags `-+ 0`, width and precision.
fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let (mut minus, mut plus, mut zero, mut space) = (false, false, false, false);
        while let Some(&f) = chars.peek() {
            match f {
                '-' => minus = true,
                '+' => plus = true,
                '0' => zero = true,
                ' ' => space = true,
                _ => break,
            }
            chars.next();
        }
        let mut width = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            chars.next();
        }
        let mut precision: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                chars.next();
            }
            precision = Some(p.parse().unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        let mut body = match (verb, arg) {
            ('v' | 's', Value::Str(s)) => match precision {
                Some(p) if verb == 's' => s.chars().take(p).collect(),
                _ => s.clone(),
            },
            ('v' | 'g' | 'G', Value::Number(n)) => format_g(*n, if verb == 'v' { None } else { precision }),
            ('f' | 'F', Value::Number(n)) => format_f(*n, precision),
            ('e' | 'E', Value::Number(n)) => format_e(*n, precision),
            ('d', Value::Number(n)) if n.fract() == 0.0 && n.is_finite() => format!("{}", *n as i64),
            ('x', Value::Number(n)) if n.fract() == 0.0 && n.is_finite() => format!("{:x}", *n as i64),
            ('x', Value::Str(s)) => s.bytes().map(|b| format!("{b:02x}")).collect(),
            ('q', Value::Str(s)) => format!("{s:?}"),
            ('v' | 't', Value::Bool(b)) => b.to_string(),
            ('v', other) => other.render(),
            (_, other) => format!("%!{verb}({})", other.render()),
        };
        if verb == 'E' {
            body = body.to_uppercase();
        }
        let numeric = matches!(arg, Value::Number(n) if n.is_finite())
            && matches!(verb, 'd' | 'f' | 'F' | 'e' | 'E' | 'g' | 'G' | 'v');
        if numeric && !body.starts_with('-') {
            if plus {
                body.insert(0, '+');
            } else if space {
                body.insert(0, ' ');
            }
        }
        let width: usize = width.parse().unwrap_or(0);
        let len = body.chars().count();
        if len < width {
            let pad = width - len;
            if minus {
                body.push_str(&" ".repeat(pad));
            } else if zero && numeric {
                let sign_len = usize::from(body.starts_with(['-', '+', ' ']));
                body.insert_str(sign_len, &"0".repeat(pad));
            } else {
                body.insert_str(0, &" ".repeat(pad));
            }
        }
        out.push_str(&body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humanize_like_prometheus() {
        assert_eq!(humanize(1234567.0), "1.235M");
        assert_eq!(humanize(0.001234), "1.234m");
        assert_eq!(humanize(999.0), "999");
        assert_eq!(humanize(0.0), "0");
        assert_eq!(humanize_1024(1048576.0), "1Mi");
        assert_eq!(humanize_duration(3600.0), "1h 0m 0s");
        assert_eq!(humanize_duration(90.5), "1m 30s");
        assert_eq!(humanize_duration(1.5), "1.5s");
        assert_eq!(humanize_duration(-61.0), "-1m 1s");
        assert_eq!(humanize_timestamp(1.5), "1970-01-01 00:00:01.5 +0000 UTC");
    }

    #[test]
    fn sprintf_like_go() {
        let n = |v: f64| Value::Number(v);
        assert_eq!(
            sprintf("%5.1f|%-4d|%03d", &[n(4.56789), n(7.0), n(5.0)]),
            "  4.6|7   |005"
        );
        assert_eq!(
            sprintf("%+.2e %q %x", &[n(1234.5), Value::Str("a\"b".into()), n(255.0)]),
            "+1.23e+03 \"a\\\"b\" ff"
        );
        assert_eq!(sprintf("%d %s", &[n(1.5)]), "%!d(1.5) %!s(MISSING)");
        assert_eq!(sprintf("%v %v", &[n(0.5), Value::Bool(true)]), "0.5 true");
        assert_eq!(sprintf("100%%", &[]), "100%");
    }

    #[test]
    fn strings() {
        assert_eq!(title("disk full on db-1"), "Disk Full On Db-1");
        assert_eq!(strip_port("db-1:9100"), "db-1");
        assert_eq!(strip_port("[::1]:9100"), "::1");
        assert_eq!(strip_domain("db-1.example.com:9100"), "db-1:9100");
        assert_eq!(strip_domain("10.0.0.1:9100"), "10.0.0.1:9100");
    }
}
