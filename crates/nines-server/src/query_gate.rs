//! How many queries run at once: at most `overall`, and at most
//! `per_client` of them for one client address, so one dashboard (or one
//! attacker) cannot take every query thread. Queries past a limit wait
//! their turn, as Prometheus's `query.max-concurrency` makes them, within
//! the query's own timeout.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The two limits and the clients' queues.
#[derive(Debug)]
pub struct QueryGate {
    overall: Arc<Semaphore>,
    per_client: usize,
    clients: Mutex<HashMap<IpAddr, Arc<Semaphore>>>,
    /// Queries evaluating now (`nines_queries_running`).
    pub running: Gauge,
    /// Queries called off because their client left
    /// (`nines_queries_canceled_total`).
    pub canceled: Counter,
}

/// A place to run one query; the places return when it is dropped.
#[derive(Debug)]
pub struct QueryTurn {
    _overall: OwnedSemaphorePermit,
    _client: Option<OwnedSemaphorePermit>,
}

/// No place came free in time.
#[derive(Debug, thiserror::Error)]
#[error("no query slot came free within {0:?} ({1})")]
pub struct Busy(pub Duration, pub &'static str);

impl QueryGate {
    /// At most `overall` queries at once, `per_client` of them from one
    /// address (0: no per-client limit). `overall` is at least 1.
    pub fn new(overall: usize, per_client: usize) -> Arc<Self> {
        Arc::new(Self {
            overall: Arc::new(Semaphore::new(overall.max(1))),
            per_client,
            clients: Mutex::new(HashMap::new()),
            running: Gauge::default(),
            canceled: Counter::default(),
        })
    }

    /// Waits up to `patience` for a turn for a query from `client`.
    pub async fn enter(&self, client: Option<IpAddr>, patience: Duration) -> Result<QueryTurn, Busy> {
        let queue = client.filter(|_| self.per_client > 0).map(|ip| {
            self.clients
                .lock()
                .entry(ip)
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_client)))
                .clone()
        });
        let work = async {
            let client = match queue {
                Some(q) => Some(q.acquire_owned().await.map_err(|_| "closed")?),
                None => None,
            };
            let overall = self.overall.clone().acquire_owned().await.map_err(|_| "closed")?;
            Ok::<_, &'static str>(QueryTurn {
                _overall: overall,
                _client: client,
            })
        };
        let turn = match tokio::time::timeout(patience, work).await {
            Ok(Ok(turn)) => Ok(turn),
            Ok(Err(why)) => Err(Busy(patience, why)),
            Err(_) => Err(Busy(patience, "the query limits are all taken")),
        };
        self.forget_idle_clients();
        turn
    }

    /// Drops the queues of clients with nothing running or waiting, so the
    /// map does not grow with every address ever seen.
    fn forget_idle_clients(&self) {
        let per_client = self.per_client;
        self.clients
            .lock()
            .retain(|_, q| Arc::strong_count(q) > 1 || q.available_permits() < per_client);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_client_waits_for_its_own_turns_while_others_go_ahead() {
        let gate = QueryGate::new(3, 2);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        // No patience: a turn that is not free at once is refused.
        let now = Duration::ZERO;
        let t1 = gate.enter(Some(a), now).await.unwrap();
        let _t2 = gate.enter(Some(a), now).await.unwrap();
        assert!(gate.enter(Some(a), now).await.is_err(), "a third from one client waits");
        let t3 = gate.enter(Some(b), now).await.unwrap();
        assert!(gate.enter(Some(b), now).await.is_err(), "the overall limit is reached");
        drop(t1);
        assert!(gate.enter(Some(a), now).await.is_ok());
        drop(t3);
        assert!(gate.clients.lock().len() <= 2);
    }
}
