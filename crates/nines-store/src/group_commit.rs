//! Group commit for event appends: callers that append at the same time
//! share one transaction, so one fsync makes many appends durable. Each
//! caller still returns only after its own events are committed (or with
//! the error that kept them out), so "durable before acknowledged" holds.
//!
//! The first caller to find no commit running becomes the leader: it
//! takes everything queued, commits it, hands each caller its ids and
//! wakes them. Callers that arrive meanwhile queue up for the next one.

use std::collections::HashMap;

use nines_learning::events::NewEvent;
use parking_lot::{Condvar, Mutex};

#[derive(Default)]
struct Queue {
    waiting: Vec<(u64, Vec<NewEvent>)>,
    committing: bool,
    done: HashMap<u64, Result<Vec<i64>, String>>,
    next_ticket: u64,
}

/// Appends from many threads, committed together.
#[derive(Default)]
pub(crate) struct GroupCommit {
    queue: Mutex<Queue>,
    committed: Condvar,
}

/// Clears the commit flag and wakes everyone even if the commit unwinds,
/// so that a panic in one commit cannot leave every later caller waiting.
struct Release<'a>(&'a GroupCommit);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.0.queue.lock().committing = false;
        self.0.committed.notify_all();
    }
}

impl GroupCommit {
    /// Appends `events` through `commit` (which writes a batch in one
    /// transaction and returns its ids in order), together with whatever
    /// other callers queued meanwhile; returns this caller's ids.
    pub(crate) fn append(
        &self,
        events: Vec<NewEvent>,
        commit: impl Fn(&[NewEvent]) -> Result<Vec<i64>, String>,
    ) -> Result<Vec<i64>, String> {
        let mut q = self.queue.lock();
        let ticket = q.next_ticket;
        q.next_ticket += 1;
        q.waiting.push((ticket, events));
        loop {
            if let Some(result) = q.done.remove(&ticket) {
                return result;
            }
            if q.committing {
                self.committed.wait(&mut q);
                continue;
            }
            q.committing = true;
            let batch = std::mem::take(&mut q.waiting);
            drop(q);
            let release = Release(self);
            let sizes: Vec<(u64, usize)> = batch.iter().map(|(t, e)| (*t, e.len())).collect();
            let all: Vec<NewEvent> = batch.into_iter().flat_map(|(_, e)| e).collect();
            let outcome = commit(&all);
            q = self.queue.lock();
            let mut start = 0;
            for (t, n) in sizes {
                let mine = match &outcome {
                    Ok(ids) => ids
                        .get(start..start + n)
                        .map(<[i64]>::to_vec)
                        .ok_or_else(|| "the commit returned fewer ids than events".to_string()),
                    Err(e) => Err(e.clone()),
                };
                start += n;
                q.done.insert(t, mine);
            }
            drop(q);
            drop(release);
            q = self.queue.lock();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn ev(n: i64) -> NewEvent {
        NewEvent {
            at: n,
            kind: "k".into(),
            service: None,
            actor: None,
            payload: serde_json::Value::Null,
        }
    }

    #[test]
    fn concurrent_appends_share_commits_and_each_gets_its_own_ids() {
        let gc = Arc::new(GroupCommit::default());
        let log = Arc::new(Mutex::new(Vec::<i64>::new()));
        let commits = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let (gc, log, commits) = (gc.clone(), log.clone(), commits.clone());
                std::thread::spawn(move || {
                    for i in 0..200 {
                        let at = t * 1_000 + i;
                        let ids = gc
                            .append(vec![ev(at), ev(at)], |batch| {
                                commits.fetch_add(1, Ordering::Relaxed);
                                let mut l = log.lock();
                                Ok(batch
                                    .iter()
                                    .map(|e| {
                                        l.push(e.at);
                                        l.len() as i64
                                    })
                                    .collect())
                            })
                            .unwrap();
                        let l = log.lock();
                        assert_eq!(ids.len(), 2);
                        for id in ids {
                            assert_eq!(l[(id - 1) as usize], at, "an id names this caller's event");
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(log.lock().len(), 8 * 200 * 2);
        assert!(commits.load(Ordering::Relaxed) <= 8 * 200);
    }

    #[test]
    fn a_failed_commit_fails_every_caller_in_it_and_the_next_one_works() {
        let gc = GroupCommit::default();
        let e = gc.append(vec![ev(1)], |_| Err("disk full".into())).unwrap_err();
        assert_eq!(e, "disk full");
        assert_eq!(gc.append(vec![ev(2)], |b| Ok(vec![7; b.len()])).unwrap(), vec![7]);
    }
}
