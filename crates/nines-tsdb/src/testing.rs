//! Helpers shared by the unit tests.

/// Samples from a start time and (step, value) pairs, stopping before the
/// timestamp would overflow.
pub(crate) fn accumulate(start: i64, steps: Vec<(i64, f64)>) -> Vec<(i64, f64)> {
    let mut t = start;
    steps
        .into_iter()
        .map_while(|(d, v)| {
            t = t.checked_add(d)?;
            Some((t, v))
        })
        .collect()
}
