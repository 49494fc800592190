#![no_main]
//! Any JSON given as a maintenance window (as the API receives it) is
//! refused with field problems or validates; a valid window's occurrences
//! over any range are ordered, inside the range and of positive length,
//! and the minutes they exclude are computed without a panic.
use libfuzzer_sys::fuzz_target;
use nines_slo::maintenance::{excluded_minutes, Maintenance, MaintenanceSpec};

fuzz_target!(|data: &[u8]| {
    let Ok(spec) = serde_json::from_slice::<MaintenanceSpec>(data) else {
        return;
    };
    let Ok(m) = Maintenance::from_spec(spec) else {
        return;
    };
    let t = data.iter().fold(0i64, |a, &b| a.wrapping_mul(31).wrapping_add(i64::from(b)));
    for from in [t, t >> 20, 1_700_000_000_000 + (t & 0xffff_ffff)] {
        let to = from.saturating_add(30 * 86_400_000);
        let occ = m.occurrences(from, to);
        for w in occ.windows(2) {
            assert!(w[0].0 <= w[1].0, "{occ:?}");
        }
        for &(s, e) in &occ {
            assert!(s < e && s < to && e > from, "{occ:?} outside [{from}, {to})");
        }
        let first = from.div_euclid(60_000);
        let _ = excluded_minutes(&occ, first, first + 1440);
    }
});
