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

/// Same timestamps and bit-identical values (NaNs included).
pub(crate) fn same(a: &[(i64, f64)], b: &[(i64, f64)]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.0 == y.0 && x.1.to_bits() == y.1.to_bits())
}
