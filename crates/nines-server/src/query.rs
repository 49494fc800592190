//! Reads shared by export and the metadata API.

use std::collections::BTreeMap;

use nines_tsdb::{Db, Labels, Series};

use crate::params::Selector;

/// Series matching any of the selectors, one per label set, sorted.
pub fn select_union(db: &Db, selectors: &[Selector], mint: i64, maxt: i64) -> nines_tsdb::Result<Vec<Series>> {
    let mut out: BTreeMap<Labels, Series> = BTreeMap::new();
    for alternative in selectors.iter().flatten() {
        for s in db.select(alternative, mint, maxt)? {
            out.entry(s.labels()).or_insert(s);
        }
    }
    Ok(out.into_values().collect())
}
