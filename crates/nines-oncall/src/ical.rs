//! A schedule's shifts as an iCalendar feed (RFC 5545) that calendar
//! apps subscribe to: one `VEVENT` per shift, times in UTC, text escaped,
//! lines folded at 75 octets and ended with CRLF.

use std::collections::BTreeMap;
use std::fmt::Write;

use jiff::Timestamp;

use crate::directory::User;
use crate::schedule::{Schedule, Shift, ShiftSource};

/// The feed for `shifts` of `schedule`, stamped `now_ms`.
pub fn calendar(schedule: &Schedule, shifts: &[Shift], users: &BTreeMap<String, User>, now_ms: i64) -> String {
    let mut out = String::new();
    let mut line = |text: &str| fold(&mut out, text);
    line("BEGIN:VCALENDAR");
    line("VERSION:2.0");
    line("PRODID:-//nines//on-call schedules//EN");
    line("CALSCALE:GREGORIAN");
    line("METHOD:PUBLISH");
    line(&format!(
        "X-WR-CALNAME:{}",
        escape(&format!("On call: {}", schedule.name))
    ));
    line(&format!("X-WR-TIMEZONE:{}", escape(&schedule.time_zone)));
    let stamp = utc(now_ms);
    for s in shifts {
        let who = users.get(&s.user).map(User::display_name).unwrap_or(&s.user);
        let from = match &s.source {
            ShiftSource::Layer(_, name) => format!("layer {name}"),
            ShiftSource::Override => "an override".to_string(),
        };
        line("BEGIN:VEVENT");
        line(&format!("UID:{}-{}-{}@nines", schedule.name, s.start_ms, s.user));
        line(&format!("DTSTAMP:{stamp}"));
        line(&format!("DTSTART:{}", utc(s.start_ms)));
        line(&format!("DTEND:{}", utc(s.end_ms)));
        line(&format!(
            "SUMMARY:{}",
            escape(&format!("On call: {who} ({})", schedule.name))
        ));
        line(&format!(
            "DESCRIPTION:{}",
            escape(&format!("{who} is on call for {} by {from}.", schedule.name))
        ));
        line("TRANSP:TRANSPARENT");
        line("END:VEVENT");
    }
    line("END:VCALENDAR");
    out
}

/// `20261124T100000Z`.
fn utc(ms: i64) -> String {
    let ts = Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH);
    ts.strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// TEXT escaping (RFC 5545 §3.3.11).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Writes `text` as content lines of at most 75 octets, continuation
/// lines starting with a space, never splitting a character.
fn fold(out: &mut String, text: &str) {
    let mut width = 0;
    for c in text.chars() {
        let len = c.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += len;
    }
    let _ = write!(out, "\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_fold_on_character_boundaries_and_text_is_escaped() {
        let mut out = String::new();
        let text = format!("SUMMARY:{}", "é".repeat(60));
        fold(&mut out, &text);
        for l in out.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(l.len() <= 75, "{l:?} is {} octets", l.len());
        }
        let unfolded = out.replace("\r\n ", "");
        assert_eq!(unfolded, format!("{text}\r\n"));
        assert_eq!(escape("a,b;c\\d\ne"), "a\\,b\\;c\\\\d\\ne");
        assert_eq!(utc(1_795_514_400_000), "20261124T100000Z");
    }
}
