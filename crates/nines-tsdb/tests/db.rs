//! Store-level behaviour: durability, blocks, compaction, retention, backup.

use std::sync::Arc;

use nines_clock::{ManualClock, SharedClock};
use nines_tsdb::{Db, Labels, MatchOp, Matcher, Options, SeriesSamples};

const H: i64 = 3_600_000;

/// The store's defaults, without retention or the future tolerance: these
/// tests stand the clock where it suits them and write around it.
fn opts() -> Options {
    Options {
        retention_ms: None,
        future_tolerance_ms: None,
        ..Options::default()
    }
}

fn clock(at: i64) -> (Arc<ManualClock>, SharedClock) {
    let c = Arc::new(ManualClock::new(at));
    (c.clone(), c)
}

fn name(n: &str) -> Matcher {
    Matcher::equal("__name__", n)
}

/// Appends `count` samples at a 15 s step for `series` counters.
fn fill(db: &Db, series: usize, start: i64, count: i64) {
    let labels: Vec<Vec<(String, String)>> = (0..series)
        .map(|i| {
            vec![
                ("__name__".into(), "requests_total".into()),
                ("instance".into(), format!("host-{i}")),
            ]
        })
        .collect();
    for k in 0..count {
        let t = start + k * 15_000;
        let pairs: Vec<Vec<(&str, &str)>> = labels
            .iter()
            .map(|l| l.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect())
            .collect();
        let samples: Vec<[(i64, f64); 1]> = (0..series).map(|i| [(t, (k * (i as i64 + 1)) as f64)]).collect();
        let batch: Vec<SeriesSamples> = pairs
            .iter()
            .zip(&samples)
            .map(|(l, s)| SeriesSamples { labels: l, samples: s })
            .collect();
        let r = db.append(&batch).unwrap();
        assert_eq!(r.appended, series as u64, "{r:?}");
    }
}

fn all_samples(db: &Db, m: &[Matcher]) -> Vec<(String, Vec<(i64, f64)>)> {
    db.select(m, i64::MIN, i64::MAX)
        .unwrap()
        .iter()
        .map(|s| (s.labels().to_string(), s.samples().unwrap()))
        .collect()
}

#[test]
fn samples_survive_reopen_through_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let (_, c) = clock(0);
    let before = {
        let db = Db::open(dir.path(), opts(), c.clone()).unwrap();
        fill(&db, 5, 0, 200);
        all_samples(&db, &[name("requests_total")])
        // Dropped without close: only the WAL has the data.
    };
    let db = Db::open(dir.path(), opts(), c).unwrap();
    assert_eq!(all_samples(&db, &[name("requests_total")]), before);
    assert_eq!(before.len(), 5);
    assert_eq!(before[0].1.len(), 200);
    // The reopened head accepts the next sample and refuses an old one.
    let l = [("__name__", "requests_total"), ("instance", "host-0")];
    let r = db
        .append(&[SeriesSamples {
            labels: &l,
            samples: &[(200 * 15_000, 1.0), (0, 5.0)],
        }])
        .unwrap();
    assert_eq!((r.appended, r.out_of_order), (1, 1));
}

#[test]
fn duplicates_are_idempotent_and_conflicts_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(), clock(0).1).unwrap();
    let l = [("__name__", "g"), ("a", "1")];
    let r = db
        .append(&[SeriesSamples {
            labels: &l,
            samples: &[(10, 1.0), (20, 2.0)],
        }])
        .unwrap();
    assert_eq!(r.appended, 2);
    let r = db
        .append(&[SeriesSamples {
            labels: &l,
            samples: &[
                (20, 2.0),
                (20, 3.0),
                (15, 1.0),
                (30, f64::from_bits(nines_tsdb::STALE_NAN_BITS)),
            ],
        }])
        .unwrap();
    assert_eq!(
        (r.appended, r.duplicates, r.conflicts, r.out_of_order),
        (1, 1, 1, 1),
        "{r:?}"
    );
    assert_eq!(r.errors.len(), 2);
    assert!(r.errors[0].contains("different value"), "{:?}", r.errors);
    let got = &all_samples(&db, &[name("g")])[0].1;
    assert_eq!(got.len(), 3);
    assert!(nines_tsdb::is_stale_nan(got[2].1));
}

#[test]
fn invalid_series_are_refused_and_the_rest_stored() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(), clock(0).1).unwrap();
    let good = [("__name__", "ok")];
    let bad = [("__name__", "x"), ("bad-name", "v")];
    let many: Vec<(String, String)> = (0..100)
        .map(|i| (format!("l{i:03}"), "v".to_string()))
        .chain([("__name__".to_string(), "m".to_string())])
        .collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let r = db
        .append(&[
            SeriesSamples {
                labels: &bad,
                samples: &[(1, 1.0)],
            },
            SeriesSamples {
                labels: &good,
                samples: &[(1, 1.0)],
            },
            SeriesSamples {
                labels: &many,
                samples: &[(1, 1.0)],
            },
        ])
        .unwrap();
    assert_eq!((r.appended, r.invalid_series), (1, 2));
    assert!(
        r.errors[0].contains("series 0") && r.errors[0].contains("bad-name"),
        "{:?}",
        r.errors
    );
    assert!(r.errors[1].contains("more than the limit of 64"), "{:?}", r.errors);
    assert_eq!(all_samples(&db, &[name("ok")]).len(), 1);
}

#[test]
fn head_moves_into_blocks_and_compacts_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    // The clock stands where the data ends, as it would for live data.
    let (_, c) = clock(9 * H);
    let db = Db::open(dir.path(), opts(), c.clone()).unwrap();
    // 9 h of data at 15 s for 20 series: blocks [0,2h) [2h,4h) [4h,6h) are
    // cut, the rest stays in the head.
    fill(&db, 20, 0, 9 * 240);
    db.maintain().unwrap();
    let blocks = db.blocks();
    assert!(!blocks.is_empty());
    // The first three 2 h blocks have been compacted into one 6 h block.
    assert_eq!(blocks[0].min_time, 0);
    assert_eq!(blocks[0].max_time, 6 * H - 15_000);
    assert_eq!(blocks[0].level, 2);
    let want = all_samples(&db, &[name("requests_total")]);
    assert_eq!(want.len(), 20);
    assert_eq!(want[3].1.len(), 9 * 240);
    drop(db);
    let db = Db::open(dir.path(), opts(), c).unwrap();
    assert_eq!(all_samples(&db, &[name("requests_total")]), want);
    // Range selection only returns what is inside the range.
    let s = db.select(&[name("requests_total")], 2 * H, 2 * H + 60_000).unwrap();
    assert_eq!(s[0].samples().unwrap().len(), 5);
}

#[test]
fn flush_persists_everything_and_later_old_samples_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(), clock(0).1).unwrap();
    fill(&db, 3, 0, 100);
    db.flush().unwrap();
    assert_eq!(db.blocks().len(), 1);
    assert_eq!(db.blocks()[0].stats.samples, 300);
    assert_eq!(db.head_series(), 0, "a full flush leaves nothing for the WAL to replay");
    let l = [("__name__", "requests_total"), ("instance", "host-0")];
    let r = db
        .append(&[SeriesSamples {
            labels: &l,
            samples: &[(15_000, 1.0), (100 * 15_000, 2.0)],
        }])
        .unwrap();
    assert_eq!((r.appended, r.too_old), (1, 1));
    assert_eq!(all_samples(&db, &[name("requests_total")])[0].1.len(), 101);
    // A second flush in the same 2 h window adds a block; the two merge
    // once the head has moved past the window.
    db.flush().unwrap();
    assert_eq!(db.blocks().len(), 2, "{:?}", db.blocks());
    db.append(&[SeriesSamples {
        labels: &l,
        samples: &[(2 * H + 15_000, 3.0)],
    }])
    .unwrap();
    db.flush().unwrap();
    let blocks = db.blocks();
    assert_eq!(blocks.len(), 2, "{blocks:?}");
    assert_eq!(
        (blocks[0].min_time, blocks[0].stats.samples, blocks[0].level),
        (0, 301, 2)
    );
    assert_eq!(all_samples(&db, &[name("requests_total")])[0].1.len(), 102);
}

#[test]
fn retention_by_time_follows_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let (manual, c) = clock(5 * H);
    let o = Options {
        retention_ms: Some(24 * H),
        ..opts()
    };
    let db = Db::open(dir.path(), o, c).unwrap();
    fill(&db, 2, 0, 5 * 240);
    db.maintain().unwrap();
    let n = db.blocks().len();
    assert!(n >= 1);
    manual.set(24 * H + 2 * H);
    db.maintain().unwrap();
    assert!(db.blocks().len() < n, "{:?}", db.blocks());
    let first = all_samples(&db, &[name("requests_total")])[0].1[0].0;
    assert!(first >= 2 * H, "{first}");
}

#[test]
fn retention_by_size_deletes_oldest_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let o = Options {
        retention_bytes: Some(1),
        ..opts()
    };
    let db = Db::open(dir.path(), o, clock(0).1).unwrap();
    fill(&db, 2, 0, 5 * 240);
    db.maintain().unwrap();
    assert!(db.blocks().is_empty());
    // The head is never dropped by retention.
    assert!(!all_samples(&db, &[name("requests_total")]).is_empty());
}

#[test]
fn snapshot_is_a_complete_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let (_, c) = clock(5 * H);
    let db = Db::open(dir.path(), opts(), c.clone()).unwrap();
    fill(&db, 4, 0, 5 * 240);
    db.maintain().unwrap();
    let want = all_samples(&db, &[name("requests_total")]);
    let target = dir.path().join("backup");
    let report = db.snapshot(&target).unwrap();
    assert!(report.blocks >= 1 && report.head_series == 4);
    assert!(db.snapshot(&target).is_err(), "refuses a non-empty target");
    let copy = Db::open(&target, opts(), c).unwrap();
    assert_eq!(all_samples(&copy, &[name("requests_total")]), want);
}

#[test]
fn the_data_directory_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let _db = Db::open(dir.path(), opts(), clock(0).1).unwrap();
    let e = Db::open(dir.path(), opts(), clock(0).1).unwrap_err().to_string();
    assert!(e.contains("in use"), "{e}");
}

#[test]
fn matchers_select_like_a_brute_force_scan_across_head_and_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(), clock(0).1).unwrap();
    let mut all = Vec::new();
    for i in 0..60 {
        let job = ["api", "web", "db"][i % 3].to_string();
        let zone = if i % 4 == 0 {
            String::new()
        } else {
            format!("z{}", i % 5)
        };
        all.push((format!("m{}", i % 2), job, zone, format!("{i}")));
    }
    for (phase, t) in [(0, 0i64), (1, 3 * H)] {
        for (n, job, zone, id) in &all {
            let labels = [
                ("__name__", n.as_str()),
                ("id", id.as_str()),
                ("job", job.as_str()),
                ("zone", zone.as_str()),
            ];
            db.append(&[SeriesSamples {
                labels: &labels,
                samples: &[(t, 1.0)],
            }])
            .unwrap();
        }
        if phase == 0 {
            db.flush().unwrap();
        }
    }
    let cases: Vec<Vec<Matcher>> = vec![
        vec![name("m0")],
        vec![Matcher::new(MatchOp::NotEqual, "job", "api").unwrap()],
        vec![Matcher::new(MatchOp::Regex, "zone", "z[12]").unwrap(), name("m1")],
        vec![Matcher::new(MatchOp::NotRegex, "zone", "z.*").unwrap()],
        vec![Matcher::new(MatchOp::Equal, "zone", "").unwrap()],
        vec![
            Matcher::new(MatchOp::Regex, "job", ".+").unwrap(),
            Matcher::new(MatchOp::NotEqual, "zone", "z3").unwrap(),
        ],
    ];
    for m in cases {
        let got: Vec<String> = db
            .select(&m, i64::MIN, i64::MAX)
            .unwrap()
            .iter()
            .map(|s| s.labels().get("id").unwrap().to_string())
            .collect();
        let mut want: Vec<String> = all
            .iter()
            .filter(|(n, job, zone, _)| {
                m.iter().all(|mm| match mm.name.as_str() {
                    "__name__" => mm.matches(n),
                    "job" => mm.matches(job),
                    "zone" => mm.matches(zone),
                    _ => mm.matches(""),
                })
            })
            .map(|x| x.3.clone())
            .collect();
        let mut got_sorted = got.clone();
        got_sorted.sort();
        want.sort();
        assert_eq!(got_sorted, want, "{m:?}");
        for s in db.select(&m, i64::MIN, i64::MAX).unwrap() {
            assert_eq!(s.samples().unwrap().len(), 2, "both the block and the head contribute");
        }
        // The head alone (no block overlaps) answers in the same label order.
        let head_only = db.select(&m, 3 * H, i64::MAX).unwrap();
        let labels: Vec<Labels> = head_only.iter().map(|s| s.labels()).collect();
        let all_ranges: Vec<Labels> = db
            .select(&m, i64::MIN, i64::MAX)
            .unwrap()
            .iter()
            .map(|s| s.labels())
            .collect();
        assert_eq!(labels, all_ranges, "{m:?}");
        assert!(labels.windows(2).all(|w| w[0] < w[1]), "{m:?}");
        for s in &head_only {
            let pairs: Vec<(String, String)> = s
                .series_labels()
                .pairs()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            let built: Vec<(String, String)> = s
                .labels()
                .pairs()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            assert_eq!(pairs, built);
            assert_eq!(s.samples().unwrap(), vec![(3 * H, 1.0)]);
        }
    }
}

#[test]
fn series_order_changes_between_batches_do_not_mix_series_up() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(), clock(0).1).unwrap();
    let names = ["a", "b", "c", "d"];
    let labels: Vec<[(&str, &str); 1]> = names.iter().map(|n| [("__name__", *n)]).collect();
    let orders: [&[usize]; 4] = [&[0, 1, 2, 3], &[0, 2, 1, 3], &[3, 2, 1, 0], &[1, 0, 3]];
    for (step, order) in orders.iter().enumerate() {
        let samples: Vec<[(i64, f64); 1]> = order.iter().map(|&i| [(step as i64 * 1000, i as f64)]).collect();
        let batch: Vec<SeriesSamples> = order
            .iter()
            .zip(&samples)
            .map(|(&i, s)| SeriesSamples {
                labels: &labels[i],
                samples: s,
            })
            .collect();
        assert_eq!(db.append(&batch).unwrap().appended, order.len() as u64);
    }
    for (i, n) in names.iter().enumerate() {
        let got = &all_samples(&db, &[name(n)])[0].1;
        assert!(got.iter().all(|s| s.1 == i as f64), "{n}: {got:?}");
        let expected = orders.iter().filter(|o| o.contains(&i)).count();
        assert_eq!(got.len(), expected, "{n}");
    }
}

#[test]
fn history_older_than_the_head_is_backfilled_into_blocks_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let (_, c) = clock(0);
    let db = Db::open(dir.path(), opts(), c.clone()).unwrap();
    let l = [("__name__", "hist"), ("a", "1")];
    // Recent data first, flushed: the head's lower bound moves past it.
    db.append(&[SeriesSamples {
        labels: &l,
        samples: &[(10 * H, 1.0)],
    }])
    .unwrap();
    db.flush().unwrap();
    let old: Vec<(i64, f64)> = (0..(5 * 240)).map(|k| (k * 15_000, k as f64)).collect();
    // Plain append refuses it, as remote_write does.
    let r = db
        .append(&[SeriesSamples {
            labels: &l,
            samples: &old,
        }])
        .unwrap();
    assert_eq!((r.appended, r.too_old, r.backfilled), (0, 1200, 0));
    // Backfill writes it into blocks, one per 2 h range, the same series
    // twice in a batch included.
    let r = db
        .append_with(
            &[
                SeriesSamples {
                    labels: &l,
                    samples: &old[..600],
                },
                SeriesSamples {
                    labels: &l,
                    samples: &old[600..],
                },
            ],
            nines_tsdb::OldSamples::Backfill,
        )
        .unwrap();
    assert_eq!((r.appended, r.too_old, r.backfilled), (0, 0, 1200), "{r:?}");
    let got = &all_samples(&db, &[name("hist")])[0].1;
    assert_eq!(got.len(), 1201);
    assert_eq!(got[..1200], old[..]);
    // Survives a restart, and maintenance compacts the backfilled blocks.
    db.maintain().unwrap();
    drop(db);
    let db = Db::open(dir.path(), opts(), c).unwrap();
    assert_eq!(all_samples(&db, &[name("hist")])[0].1.len(), 1201);
    assert!(db.blocks().len() <= 3, "{:?}", db.blocks());
}

#[test]
fn append_refs_reuses_refs_and_recovers_from_dropped_series() {
    use nines_tsdb::RefSample;
    let dir = tempfile::tempdir().unwrap();
    let (c, shared) = clock(10 * H);
    let db = Db::open(dir.path(), opts(), shared).unwrap();
    let labels = [
        vec![("__name__", "a"), ("job", "x")],
        vec![("job", "x"), ("__name__", "b")],
        vec![("__name__", "bad name")],
    ];
    let mut asked = Vec::new();
    let mut batch: Vec<RefSample> = (0..3)
        .map(|i| RefSample {
            series: None,
            t: 10 * H + 1,
            v: i as f64,
        })
        .collect();
    let r = db
        .append_refs(&mut batch, |i, sink| {
            asked.push(i);
            sink(&labels[i]);
        })
        .unwrap();
    assert_eq!((r.appended, r.invalid_series), (2, 1));
    assert_eq!(asked, vec![0, 1, 2]);
    assert!(batch[0].series.is_some() && batch[1].series.is_some() && batch[2].series.is_none());
    // Known refs: labels are not asked for again.
    for s in &mut batch {
        s.t += 15_000;
    }
    let mut asked = Vec::new();
    let r = db
        .append_refs(&mut batch[..2], |i, sink| {
            asked.push(i);
            sink(&labels[i]);
        })
        .unwrap();
    assert_eq!(r.appended, 2);
    assert!(asked.is_empty());
    // The head lets the series go (persisted, then idle past a block);
    // the stale refs are noticed and resolved from labels again.
    db.flush().unwrap();
    c.set(20 * H);
    db.maintain().unwrap();
    assert_eq!(
        db.head_series(),
        0,
        "the head must have dropped the series for this test"
    );
    for s in &mut batch {
        s.t = 20 * H;
    }
    let r = db.append_refs(&mut batch[..2], |i, sink| sink(&labels[i])).unwrap();
    assert_eq!(r.appended, 2, "{r:?}");
    let got = all_samples(&db, &[name("b")]);
    assert_eq!(got[0].1, vec![(10 * H + 1, 1.0), (10 * H + 15_001, 1.0), (20 * H, 1.0)]);
}

#[test]
fn latest_agrees_with_the_last_decoded_sample_across_head_and_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let (_, c) = clock(9 * H);
    let db = Db::open(dir.path(), opts(), c).unwrap();
    // Blocks for the first hours, the rest (open chunks included) in the head.
    fill(&db, 5, 0, 9 * 240);
    db.maintain().unwrap();
    assert!(!db.blocks().is_empty());
    let end = 9 * 240 * 15_000;
    // Ranges ending inside blocks, on chunk edges, inside the open chunk,
    // past the newest sample, and between samples.
    for maxt in (0..end + 60_000).step_by(7 * 60_000 + 7_500) {
        for width in [1, 15_000, 300_000, 3 * H] {
            let mut want = Vec::new();
            for s in db.select(&[name("requests_total")], maxt - width, maxt).unwrap() {
                let last = s.samples().unwrap().last().copied();
                assert_eq!(
                    s.latest().unwrap(),
                    last,
                    "{} in [{}, {maxt}]",
                    s.labels(),
                    maxt - width
                );
                want.extend(last.map(|p| (s.labels(), p)));
            }
            let got: Vec<_> = db
                .select_latest(&[name("requests_total")], maxt - width, maxt)
                .unwrap()
                .into_iter()
                .map(|(l, p)| (l.into_labels(), p))
                .collect();
            assert_eq!(got, want, "[{}, {maxt}]", maxt - width);
        }
    }
}

#[test]
fn one_sample_from_the_future_changes_nothing_for_anyone_else() {
    let dir = tempfile::tempdir().unwrap();
    let now = 1_700_000_000_000;
    let (clk, shared) = clock(now);
    let db = Db::open(
        dir.path(),
        Options {
            future_tolerance_ms: Some(10 * 60_000),
            ..opts()
        },
        shared,
    )
    .unwrap();
    let wrong_clock = [("__name__", "skewed")];
    let r = db
        .append(&[SeriesSamples {
            labels: &wrong_clock,
            samples: &[(now + 24 * H, 1.0), (now + 48 * H, 2.0), (now + 5 * 60_000, 3.0)],
        }])
        .unwrap();
    assert_eq!((r.appended, r.too_far_in_future), (1, 2), "{r:?}");
    assert!(r.errors[0].contains("too far in the future"), "{:?}", r.errors);
    // The oldest timestamp Prometheus can represent is a store boundary:
    // below it is out of bounds, not a conflicting duplicate.
    let ancient = db
        .append(&[SeriesSamples {
            labels: &[("__name__", "ancient")],
            samples: &[(i64::MIN, 1.0)],
        }])
        .unwrap();
    assert_eq!((ancient.out_of_bounds, ancient.conflicts), (1, 0), "{ancient:?}");
    assert!(ancient.errors[0].contains("outside the range"), "{:?}", ancient.errors);
    // Housekeeping while the skewed sample sits in the head cuts nothing
    // that holds now: everybody else's samples keep going in.
    let others = [("__name__", "others")];
    for k in 0..4 {
        clk.set(now + k * 60_000);
        db.maintain().unwrap();
        let r = db
            .append(&[SeriesSamples {
                labels: &others,
                samples: &[(now + k * 60_000, k as f64)],
            }])
            .unwrap();
        assert_eq!(r.appended, 1, "{r:?}");
    }
    assert!(db.blocks().is_empty(), "{:?}", db.blocks());
}

#[test]
fn without_a_tolerance_a_far_sample_still_leaves_now_writable() {
    let dir = tempfile::tempdir().unwrap();
    let now = 1_700_000_000_000;
    let (clk, shared) = clock(now);
    let db = Db::open(dir.path(), opts(), shared).unwrap();
    let l = [("__name__", "m")];
    db.append(&[SeriesSamples {
        labels: &l,
        samples: &[(now, 1.0)],
    }])
    .unwrap();
    db.append(&[SeriesSamples {
        labels: &[("__name__", "far")],
        samples: &[(now + 24 * H, 1.0)],
    }])
    .unwrap();
    db.maintain().unwrap();
    clk.set(now + 60_000);
    let r = db
        .append(&[SeriesSamples {
            labels: &l,
            samples: &[(now + 60_000, 2.0)],
        }])
        .unwrap();
    assert_eq!((r.appended, r.too_old), (1, 0), "the block holding now was cut: {r:?}");
}
