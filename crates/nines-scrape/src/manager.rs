//! Runs the scrape jobs: one task per target (so a slow target only ever
//! delays itself), one discovery task per job with target files, and the
//! reconciliation that starts, keeps or stops loops when the config or
//! the target files change.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nines_clock::SharedClock;
use nines_tsdb::Db;
use parking_lot::Mutex;
use rustc_hash::FxHashMap;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::discovery::FileWatcher;
use crate::fetch::{build_client, fetch};
use crate::scrape::{ScrapeReport, TargetState};
use crate::spec::ScrapeSpec;
use crate::target::{build_targets, DroppedTarget, Target};

/// How a target did on its last scrape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Not scraped yet.
    Unknown,
    /// Last scrape succeeded.
    Up,
    /// Last scrape failed.
    Down,
}

/// A target and the outcome of its last scrape.
#[derive(Debug, Clone)]
pub struct TargetStatus {
    /// The job.
    pub job: String,
    /// The target.
    pub target: Target,
    /// Health.
    pub health: Health,
    /// The last error, empty when healthy.
    pub last_error: String,
    /// When the last scrape started (ms).
    pub last_scrape_ms: Option<i64>,
    /// How long it took.
    pub last_duration: Duration,
    /// Samples of the last scrape.
    pub last_report: ScrapeReport,
}

/// Everything the manager reports about one job.
#[derive(Debug, Clone)]
pub struct PoolStatus {
    /// Job name.
    pub job: String,
    /// Targets scraped.
    pub active: Vec<TargetStatus>,
    /// Targets dropped by relabeling or unusable.
    pub dropped: Vec<DroppedTarget>,
}

/// Counters a self-metrics exporter reads.
#[derive(Debug, Default)]
pub struct ScrapeCounters {
    /// Scrapes by outcome.
    pub scrapes_ok: std::sync::atomic::AtomicU64,
    /// Failed scrapes.
    pub scrapes_failed: std::sync::atomic::AtomicU64,
    /// Samples scraped (after metric relabeling).
    pub samples: std::sync::atomic::AtomicU64,
    /// Samples the store refused.
    pub samples_rejected: std::sync::atomic::AtomicU64,
}

struct LoopHandle {
    status: Arc<Mutex<TargetStatus>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

struct Job {
    spec: Arc<ScrapeSpec>,
    fingerprint: u64,
    client: reqwest::Client,
    loops: FxHashMap<u64, LoopHandle>,
    dropped: Vec<DroppedTarget>,
    discovery: Option<JoinHandle<()>>,
}

/// The scrape jobs of the running config.
pub struct ScrapeManager {
    db: Arc<Db>,
    clock: SharedClock,
    jobs: Mutex<Vec<Job>>,
    counters: Arc<ScrapeCounters>,
}

/// A job's spec could not be turned into a client.
#[derive(Debug, thiserror::Error)]
#[error("job {job}: {message}")]
pub struct JobError {
    /// The job.
    pub job: String,
    /// What failed.
    pub message: String,
}

impl ScrapeManager {
    /// A manager with no jobs.
    pub fn new(db: Arc<Db>, clock: SharedClock) -> Arc<Self> {
        // reqwest is built without a default TLS provider; several callers
        // may race here and all but one get an error that means "done".
        let _ = rustls::crypto::ring::default_provider().install_default();
        Arc::new(Self {
            db,
            clock,
            jobs: Mutex::new(Vec::new()),
            counters: Arc::default(),
        })
    }

    /// Counters for self-metrics.
    pub fn counters(&self) -> &ScrapeCounters {
        &self.counters
    }

    /// Replaces the running jobs with `specs` (each paired with a
    /// fingerprint of its config). Jobs whose fingerprint is unchanged keep
    /// running untouched; others are restarted; removed ones are stopped
    /// and their series marked stale. Must run inside a Tokio runtime.
    /// Checks every spec first: on error nothing changes.
    pub fn apply(self: &Arc<Self>, specs: Vec<(ScrapeSpec, u64)>) -> Result<(), JobError> {
        let mut clients = Vec::with_capacity(specs.len());
        for (spec, _) in &specs {
            clients.push(build_client(spec).map_err(|message| JobError {
                job: spec.job_name.clone(),
                message,
            })?);
        }
        let mut jobs = self.jobs.lock();
        let mut old: Vec<Job> = std::mem::take(&mut *jobs);
        for ((spec, fingerprint), client) in specs.into_iter().zip(clients) {
            if let Some(pos) = old
                .iter()
                .position(|j| j.spec.job_name == spec.job_name && j.fingerprint == fingerprint)
            {
                jobs.push(old.swap_remove(pos));
                continue;
            }
            let mut job = Job {
                spec: Arc::new(spec),
                fingerprint,
                client,
                loops: FxHashMap::default(),
                dropped: Vec::new(),
                discovery: None,
            };
            let groups = job.spec.static_groups.clone();
            self.sync_targets(&mut job, &groups);
            if !job.spec.file_sd.is_empty() {
                job.discovery = Some(tokio::spawn(discover(Arc::downgrade(self), job.spec.clone())));
            }
            jobs.push(job);
        }
        drop(jobs);
        for job in old {
            stop_job(job);
        }
        Ok(())
    }

    /// Stops every loop, marking their series stale, and waits for them.
    pub async fn shutdown(&self) {
        let jobs = std::mem::take(&mut *self.jobs.lock());
        let mut tasks = Vec::new();
        for job in jobs {
            tasks.extend(stop_job(job));
        }
        for t in tasks {
            let _ = t.await;
        }
    }

    /// Status of every job, in config order.
    pub fn status(&self) -> Vec<PoolStatus> {
        self.jobs
            .lock()
            .iter()
            .map(|j| {
                let mut active: Vec<TargetStatus> = j.loops.values().map(|l| l.status.lock().clone()).collect();
                active.sort_by(|a, b| a.target.url.cmp(&b.target.url));
                PoolStatus {
                    job: j.spec.job_name.clone(),
                    active,
                    dropped: j.dropped.clone(),
                }
            })
            .collect()
    }

    fn update_groups(
        self: &Arc<Self>,
        job_name: &str,
        fingerprint_of: &Arc<ScrapeSpec>,
        file_groups: Vec<crate::spec::TargetGroup>,
    ) {
        let mut jobs = self.jobs.lock();
        let Some(job) = jobs
            .iter_mut()
            .find(|j| j.spec.job_name == job_name && Arc::ptr_eq(&j.spec, fingerprint_of))
        else {
            return;
        };
        let mut groups = job.spec.static_groups.clone();
        groups.extend(file_groups);
        self.sync_targets(job, &groups);
    }

    fn sync_targets(self: &Arc<Self>, job: &mut Job, groups: &[crate::spec::TargetGroup]) {
        let (targets, dropped) = build_targets(&job.spec, groups);
        job.dropped = dropped;
        let wanted: FxHashMap<u64, Target> = targets.into_iter().map(|t| (t.key(), t)).collect();
        let gone: Vec<u64> = job.loops.keys().filter(|k| !wanted.contains_key(k)).copied().collect();
        for key in gone {
            if let Some(l) = job.loops.remove(&key) {
                let _ = l.stop.send(true);
            }
        }
        for (key, target) in wanted {
            if job.loops.contains_key(&key) {
                continue;
            }
            let status = Arc::new(Mutex::new(TargetStatus {
                job: job.spec.job_name.clone(),
                target: target.clone(),
                health: Health::Unknown,
                last_error: String::new(),
                last_scrape_ms: None,
                last_duration: Duration::ZERO,
                last_report: ScrapeReport::default(),
            }));
            let (stop, stopped) = watch::channel(false);
            let task = tokio::spawn(run_loop(LoopContext {
                state: TargetState::new(target),
                spec: job.spec.clone(),
                client: job.client.clone(),
                db: self.db.clone(),
                clock: self.clock.clone(),
                status: status.clone(),
                counters: self.counters.clone(),
                stopped,
            }));
            job.loops.insert(key, LoopHandle { status, stop, task });
        }
    }
}

fn stop_job(job: Job) -> Vec<JoinHandle<()>> {
    if let Some(d) = job.discovery {
        d.abort();
    }
    job.loops
        .into_values()
        .map(|l| {
            let _ = l.stop.send(true);
            l.task
        })
        .collect()
}

async fn discover(manager: std::sync::Weak<ScrapeManager>, spec: Arc<ScrapeSpec>) {
    let patterns: Vec<String> = spec.file_sd.iter().flat_map(|f| f.files.iter().cloned()).collect();
    let refresh = spec
        .file_sd
        .iter()
        .map(|f| f.refresh_interval)
        .min()
        .unwrap_or(Duration::from_secs(300));
    let mut watcher = FileWatcher::default();
    let mut last_full = Instant::now();
    let mut first = true;
    // Polling file metadata once a second is cheap and catches edits as
    // reliably as inotify on every filesystem (including network mounts).
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let force = last_full.elapsed() >= refresh;
        if force {
            last_full = Instant::now();
        }
        let pats = patterns.clone();
        let (w, changed) = match tokio::task::spawn_blocking(move || {
            let changed = watcher.poll(&pats, force);
            (watcher, changed)
        })
        .await
        {
            Ok(r) => r,
            Err(_) => return,
        };
        watcher = w;
        if changed || first {
            first = false;
            let Some(m) = manager.upgrade() else {
                return;
            };
            m.update_groups(&spec.job_name, &spec, watcher.groups());
        }
    }
}

struct LoopContext {
    state: TargetState,
    spec: Arc<ScrapeSpec>,
    client: reqwest::Client,
    db: Arc<Db>,
    clock: SharedClock,
    status: Arc<Mutex<TargetStatus>>,
    counters: Arc<ScrapeCounters>,
    stopped: watch::Receiver<bool>,
}

/// When the next scrape of a target with this interval and offset is due,
/// counted from `now_ms`: the first instant at `offset` into an interval.
fn delay_to_slot(now_ms: i64, interval: Duration, offset: Duration) -> Duration {
    let interval_ms = interval.as_millis().max(1) as i64;
    let offset_ms = offset.as_millis() as i64;
    let phase = (offset_ms - now_ms).rem_euclid(interval_ms);
    Duration::from_millis(phase as u64)
}

async fn run_loop(mut cx: LoopContext) {
    use std::sync::atomic::Ordering::Relaxed;
    let target = cx.state.target().clone();
    let mut next = tokio::time::Instant::now() + delay_to_slot(cx.clock.now_millis(), target.interval, target.offset());
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(next) => {}
            _ = cx.stopped.changed() => break,
        }
        let started = Instant::now();
        let ts = cx.clock.now_millis();
        let fetched = tokio::select! {
            r = fetch(&cx.client, &cx.spec, &target) => r,
            _ = cx.stopped.changed() => break,
        };
        let duration = started.elapsed();
        // Appending may wait for the store's lock (held for a moment while
        // the head is cut into a block): let this worker's other tasks move
        // elsewhere meanwhile, so HTTP and other scrapes are not held up.
        let report = tokio::task::block_in_place(|| {
            cx.state.ingest(
                &cx.db,
                &cx.spec,
                fetched.as_ref().map(|(b, f)| (&b[..], *f)).map_err(Clone::clone),
                ts,
                duration.as_secs_f64(),
            )
        });
        if report.error.is_some() {
            cx.counters.scrapes_failed.fetch_add(1, Relaxed);
        } else {
            cx.counters.scrapes_ok.fetch_add(1, Relaxed);
        }
        cx.counters.samples.fetch_add(report.post_relabel, Relaxed);
        cx.counters.samples_rejected.fetch_add(report.rejected, Relaxed);
        {
            let mut s = cx.status.lock();
            s.health = if report.error.is_none() {
                Health::Up
            } else {
                Health::Down
            };
            s.last_error = report.error.clone().unwrap_or_default();
            s.last_scrape_ms = Some(ts);
            s.last_duration = duration;
            s.last_report = report;
        }
        next += target.interval;
        let now = tokio::time::Instant::now();
        if next <= now {
            // A scrape overran its slot: skip the missed ones rather than
            // firing them back to back.
            let behind = now - next;
            let interval = target.interval.as_nanos().max(1);
            let missed = behind.as_nanos() / interval + 1;
            next += target.interval * missed as u32;
        }
    }
    tokio::task::block_in_place(|| cx.state.mark_gone(&cx.db, &cx.spec, cx.clock.now_millis()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_at_the_offset_within_each_interval() {
        let i = Duration::from_secs(15);
        assert_eq!(delay_to_slot(0, i, Duration::from_secs(3)), Duration::from_secs(3));
        assert_eq!(delay_to_slot(4_000, i, Duration::from_secs(3)), Duration::from_secs(14));
        assert_eq!(delay_to_slot(18_000, i, Duration::from_secs(3)), Duration::ZERO);
    }
}
