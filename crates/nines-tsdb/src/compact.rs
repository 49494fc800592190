//! Which blocks to compact next.
//!
//! Blocks that overlap in time are merged first (that happens after a
//! backfill or a flush). Then, level by level, blocks that fall in the same
//! aligned window of a larger range (2 h × 3ᵏ) are merged once the head has
//! moved past that window, so no more data can arrive for it.

use crate::block::BlockMeta;

/// The compaction ranges: `base`, `3·base`, `9·base`, … up to `max`.
pub(crate) fn ranges(base: i64, max: i64) -> Vec<i64> {
    let mut out = vec![base];
    let mut r = base;
    while let Some(next) = r.checked_mul(3) {
        if next > max {
            break;
        }
        out.push(next);
        r = next;
    }
    out
}

/// Ids of blocks to merge into one, or `None` when nothing is due.
pub(crate) fn plan(metas: &[BlockMeta], ranges: &[i64], head_min_valid: i64) -> Option<Vec<String>> {
    let mut sorted: Vec<&BlockMeta> = metas.iter().collect();
    sorted.sort_by_key(|m| (m.min_time, m.max_time));
    if let Some(group) = overlapping(&sorted) {
        return Some(group);
    }
    for &r in ranges {
        let mut i = 0;
        while i < sorted.len() {
            let window = sorted[i].min_time.div_euclid(r);
            let end = window.saturating_add(1).saturating_mul(r);
            let mut group = Vec::new();
            let mut j = i;
            while j < sorted.len() && sorted[j].min_time.div_euclid(r) == window {
                if sorted[j].max_time < end {
                    group.push(sorted[j].id.clone());
                }
                j += 1;
            }
            if group.len() >= 2 && end <= head_min_valid {
                return Some(group);
            }
            i = j;
        }
    }
    None
}

fn overlapping(sorted: &[&BlockMeta]) -> Option<Vec<String>> {
    let mut i = 0;
    while i < sorted.len() {
        let mut group = vec![sorted[i].id.clone()];
        let mut reach = sorted[i].max_time;
        let mut j = i + 1;
        while j < sorted.len() && sorted[j].min_time <= reach {
            group.push(sorted[j].id.clone());
            reach = reach.max(sorted[j].max_time);
            j += 1;
        }
        if group.len() > 1 {
            return Some(group);
        }
        i = j;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::BlockStats;

    const H: i64 = 3_600_000;

    fn meta(id: &str, min: i64, max: i64) -> BlockMeta {
        BlockMeta {
            version: 1,
            id: id.into(),
            min_time: min,
            max_time: max,
            stats: BlockStats::default(),
            level: 1,
            sources: vec![],
        }
    }

    #[test]
    fn ranges_grow_by_three() {
        assert_eq!(ranges(2 * H, 60 * H), vec![2 * H, 6 * H, 18 * H, 54 * H]);
    }

    #[test]
    fn three_two_hour_blocks_become_one_once_the_window_closes() {
        let blocks = [
            meta("a", 0, 2 * H - 1),
            meta("b", 2 * H, 4 * H - 1),
            meta("c", 4 * H, 6 * H - 1),
        ];
        let r = ranges(2 * H, 54 * H);
        assert_eq!(plan(&blocks, &r, 6 * H - 1), None, "window still open");
        assert_eq!(plan(&blocks, &r, 6 * H), Some(vec!["a".into(), "b".into(), "c".into()]));
    }

    #[test]
    fn overlapping_blocks_merge_first() {
        let blocks = [meta("a", 0, 2 * H - 1), meta("b", H, H + 5), meta("c", 4 * H, 5 * H)];
        assert_eq!(
            plan(&blocks, &ranges(2 * H, 54 * H), 0),
            Some(vec!["a".into(), "b".into()])
        );
    }

    #[test]
    fn two_parts_of_one_window_merge_at_the_base_level() {
        let blocks = [meta("a", 0, H), meta("b", H + 1, 2 * H - 1)];
        assert_eq!(
            plan(&blocks, &ranges(2 * H, 54 * H), 2 * H),
            Some(vec!["a".into(), "b".into()])
        );
    }
}
