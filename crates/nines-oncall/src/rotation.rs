//! One layer of a schedule: a rotation, perhaps restricted to some hours.
//!
//! Handoffs are computed on the civil clock of the layer's zone: the k-th
//! handoff is the first handoff plus k shift lengths of wall-clock time,
//! then placed in the zone. A weekly 09:00 handoff in Berlin therefore
//! stays at 09:00 through March and October, and the shift that spans the
//! change is an hour shorter or longer. A handoff that falls in a
//! spring-forward gap happens at the first instant after the gap.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use nines_routing::interval::TimeInterval;

/// A validated layer.
#[derive(Debug, Clone)]
pub struct Layer {
    /// Its name (`layer N` when none was written).
    pub name: String,
    /// User names in rotation order.
    pub participants: Vec<String>,
    /// Shift length in civil minutes.
    pub shift_minutes: i64,
    /// The first handoff, on the zone's wall clock.
    pub start: DateTime,
    /// The zone handoffs and restrictions are read in.
    pub tz: TimeZone,
    /// When set, the layer only covers the times it contains.
    pub restriction: Option<TimeInterval>,
}

/// A piece of a layer's coverage: `[start_ms, end_ms)` held by a
/// participant (an index into `participants`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Inclusive start.
    pub start_ms: i64,
    /// Exclusive end.
    pub end_ms: i64,
    /// Index into the layer's participants.
    pub participant: usize,
}

fn instant(ts: Timestamp) -> i64 {
    ts.as_millisecond()
}

fn timestamp(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(if ms < 0 { Timestamp::MIN } else { Timestamp::MAX })
}

impl Layer {
    /// The k-th handoff as an instant (ms); `None` beyond jiff's range.
    pub fn handoff(&self, k: i64) -> Option<i64> {
        let minutes = k.checked_mul(self.shift_minutes)?;
        let civil = self.start.checked_add(SignedDuration::from_mins(minutes)).ok()?;
        let zoned = self.tz.to_ambiguous_zoned(civil).compatible().ok()?;
        Some(instant(zoned.timestamp()))
    }

    /// The shift index whose span holds `ms`.
    fn index_at(&self, ms: i64) -> Option<i64> {
        let civil = self.tz.to_datetime(timestamp(ms));
        let secs = civil.duration_since(self.start).as_secs();
        let mut k = secs.div_euclid(self.shift_minutes * 60);
        // The civil estimate is off by at most one near a DST change.
        while self.handoff(k)? > ms {
            k -= 1;
        }
        while self.handoff(k + 1)? <= ms {
            k += 1;
        }
        Some(k)
    }

    /// Who holds the layer over `[from_ms, to_ms)`, in time order.
    pub fn segments(&self, from_ms: i64, to_ms: i64) -> Vec<Segment> {
        let mut out = Vec::new();
        if self.participants.is_empty() {
            return out;
        }
        let Some(first) = self.handoff(0) else {
            return out;
        };
        let from = from_ms.max(first);
        if from >= to_ms {
            return out;
        }
        let Some(mut k) = self.index_at(from) else {
            return out;
        };
        let n = self.participants.len() as i64;
        while let (Some(a), Some(b)) = (self.handoff(k), self.handoff(k + 1)) {
            if a >= to_ms {
                break;
            }
            let (s, e) = (a.max(from), b.min(to_ms));
            if s < e {
                out.push(Segment {
                    start_ms: s,
                    end_ms: e,
                    participant: k.rem_euclid(n) as usize,
                });
            }
            k += 1;
        }
        match &self.restriction {
            None => out,
            Some(r) => clip(&out, &active_pieces(r, &self.tz, from, to_ms)),
        }
    }
}

/// The parts of `[from_ms, to_ms)` a restriction allows, merged.
fn active_pieces(r: &TimeInterval, tz: &TimeZone, from_ms: i64, to_ms: i64) -> Vec<(i64, i64)> {
    let mut cuts = vec![from_ms, to_ms];
    let minutes = r.minute_boundaries();
    let mut day = tz.to_datetime(timestamp(from_ms)).date();
    let last = tz.to_datetime(timestamp(to_ms)).date();
    while day <= last {
        for m in std::iter::once(0).chain(minutes.iter().copied()) {
            let at = day.to_datetime(jiff::civil::Time::midnight()) + SignedDuration::from_mins(i64::from(m));
            if let Ok(z) = tz.to_ambiguous_zoned(at).compatible() {
                let ms = instant(z.timestamp());
                if from_ms < ms && ms < to_ms {
                    cuts.push(ms);
                }
            }
        }
        match day.tomorrow() {
            Ok(d) => day = d,
            Err(_) => break,
        }
    }
    cuts.sort_unstable();
    cuts.dedup();
    let mut pieces: Vec<(i64, i64)> = Vec::new();
    for w in cuts.windows(2) {
        if r.contains(w[0]) {
            match pieces.last_mut() {
                Some(last) if last.1 == w[0] => last.1 = w[1],
                _ => pieces.push((w[0], w[1])),
            }
        }
    }
    pieces
}

/// `segments` cut to where `pieces` (sorted, disjoint) allow.
fn clip(segments: &[Segment], pieces: &[(i64, i64)]) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut j = 0;
    for s in segments {
        while j < pieces.len() && pieces[j].1 <= s.start_ms {
            j += 1;
        }
        let mut i = j;
        while i < pieces.len() && pieces[i].0 < s.end_ms {
            let (a, b) = (s.start_ms.max(pieces[i].0), s.end_ms.min(pieces[i].1));
            if a < b {
                out.push(Segment {
                    start_ms: a,
                    end_ms: b,
                    participant: s.participant,
                });
            }
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use nines_routing::interval::TimeIntervalSpec;

    fn ms(rfc3339: &str) -> i64 {
        rfc3339.parse::<Timestamp>().unwrap().as_millisecond()
    }

    fn weekly_berlin() -> Layer {
        Layer {
            name: "primary".into(),
            participants: vec!["alice".into(), "bob".into()],
            shift_minutes: 7 * 24 * 60,
            start: "2026-03-02T09:00".parse().unwrap(),
            tz: TimeZone::get("Europe/Berlin").unwrap(),
            restriction: None,
        }
    }

    #[test]
    fn weekly_handoffs_keep_their_local_time_across_the_march_change() {
        let layer = weekly_berlin();
        // 2026-03-29 is the spring change in Berlin: 09:00 is 08:00Z before, 07:00Z after.
        assert_eq!(layer.handoff(3), Some(ms("2026-03-23T08:00:00Z")));
        assert_eq!(layer.handoff(4), Some(ms("2026-03-30T07:00:00Z")));
        let segs = layer.segments(ms("2026-03-23T00:00:00Z"), ms("2026-04-06T00:00:00Z"));
        let got: Vec<_> = segs.iter().map(|s| (s.start_ms, s.end_ms, s.participant)).collect();
        assert_eq!(
            got,
            vec![
                (ms("2026-03-23T00:00:00Z"), ms("2026-03-23T08:00:00Z"), 0),
                (ms("2026-03-23T08:00:00Z"), ms("2026-03-30T07:00:00Z"), 1),
                (ms("2026-03-30T07:00:00Z"), ms("2026-04-06T00:00:00Z"), 0),
            ]
        );
        // The shift spanning the change is an hour short.
        assert_eq!(
            layer.handoff(4).unwrap() - layer.handoff(3).unwrap(),
            (7 * 24 - 1) * 3_600_000
        );
    }

    #[test]
    fn a_handoff_in_the_spring_gap_happens_when_the_gap_ends_and_autumn_is_an_hour_long() {
        let mut layer = weekly_berlin();
        layer.shift_minutes = 24 * 60;
        layer.start = "2026-03-27T02:30".parse().unwrap();
        // 02:30 on 2026-03-29 does not exist in Berlin: 03:30 CEST = 01:30Z.
        assert_eq!(layer.handoff(2), Some(ms("2026-03-29T01:30:00Z")));
        layer.start = "2026-10-23T09:00".parse().unwrap();
        // 2026-10-25 falls back at 03:00: the shift from the 24th's 09:00
        // to the 25th's lasts 25 hours, the next one 24.
        assert_eq!(layer.handoff(2).unwrap() - layer.handoff(1).unwrap(), 25 * 3_600_000);
        assert_eq!(layer.handoff(3).unwrap() - layer.handoff(2).unwrap(), 24 * 3_600_000);
    }

    #[test]
    fn nothing_before_the_first_handoff() {
        let layer = weekly_berlin();
        assert!(layer
            .segments(ms("2026-01-01T00:00:00Z"), ms("2026-03-02T08:00:00Z"))
            .is_empty());
        let segs = layer.segments(ms("2026-01-01T00:00:00Z"), ms("2026-03-02T09:00:00Z"));
        assert_eq!(segs.len(), 1);
        assert_eq!(segs[0].start_ms, ms("2026-03-02T08:00:00Z"));
    }

    #[test]
    fn restrictions_mask_the_rotation_in_the_layer_zone() {
        let mut layer = weekly_berlin();
        let spec: TimeIntervalSpec = serde_norway::from_str(
            "name: r\ntime_intervals:\n- weekdays: ['monday:friday']\n  times: [{start_time: '09:00', end_time: '17:00'}]\n  location: Europe/Berlin\n",
        )
        .unwrap();
        layer.restriction = Some(spec.validate().unwrap());
        // Friday 2026-03-27 to Tuesday 2026-03-31 across the change.
        let segs = layer.segments(ms("2026-03-27T00:00:00Z"), ms("2026-03-31T00:00:00Z"));
        let got: Vec<_> = segs.iter().map(|s| (s.start_ms, s.end_ms, s.participant)).collect();
        assert_eq!(
            got,
            vec![
                (ms("2026-03-27T08:00:00Z"), ms("2026-03-27T16:00:00Z"), 1),
                (ms("2026-03-30T07:00:00Z"), ms("2026-03-30T15:00:00Z"), 0),
            ]
        );
    }

    proptest::proptest! {
        /// Segments tile the layer's coverage without overlap, each within
        /// the period, each participant taking turns in order.
        #[test]
        fn segments_are_ordered_and_disjoint(
            from in 1_767_225_600_000i64..1_830_297_600_000,
            len_h in 1i64..24 * 60,
            shift_h in 2i64..24 * 14,
        ) {
            let mut layer = weekly_berlin();
            layer.shift_minutes = shift_h * 60;
            layer.participants = vec!["a".into(), "b".into(), "c".into()];
            let to = from + len_h * 3_600_000;
            let segs = layer.segments(from, to);
            for w in segs.windows(2) {
                proptest::prop_assert!(w[0].end_ms <= w[1].start_ms);
                proptest::prop_assert_eq!(w[1].participant, (w[0].participant + 1) % 3);
            }
            for s in &segs {
                proptest::prop_assert!(from <= s.start_ms && s.start_ms < s.end_ms && s.end_ms <= to);
            }
            if from >= layer.handoff(0).unwrap() {
                proptest::prop_assert_eq!(segs.first().map(|s| s.start_ms), Some(from));
                proptest::prop_assert_eq!(segs.last().map(|s| s.end_ms), Some(to));
                for w in segs.windows(2) {
                    proptest::prop_assert_eq!(w[0].end_ms, w[1].start_ms);
                }
            }
        }
    }
}
