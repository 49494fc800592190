//! Per-client concurrency: each client address may have at most N
//! requests in flight; more get `429 Too Many Requests` at once instead of
//! queueing, so one busy or hostile client cannot take every worker.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;

use crate::error::ApiError;
use crate::AppState;

/// The peer address of a connection, set by the listener.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// In-flight request counts per client IP.
#[derive(Debug)]
pub struct ClientLimiter {
    max_in_flight: usize,
    in_flight: Mutex<HashMap<IpAddr, usize>>,
}

/// Releases a client's slot when the request is done (or dropped).
pub struct Slot {
    limiter: Arc<ClientLimiter>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self.limiter.in_flight.lock();
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

impl ClientLimiter {
    /// At most `max_in_flight` concurrent requests per client IP; 0 turns
    /// the limit off.
    pub fn new(max_in_flight: usize) -> Arc<Self> {
        Arc::new(Self {
            max_in_flight,
            in_flight: Mutex::new(HashMap::new()),
        })
    }

    /// Takes a slot for `ip`, or `None` when the client is at its limit.
    pub fn acquire(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let mut map = self.in_flight.lock();
        let n = map.entry(ip).or_insert(0);
        if *n >= self.max_in_flight {
            return None;
        }
        *n += 1;
        Some(Slot {
            limiter: self.clone(),
            ip,
        })
    }
}

/// Middleware applying the state's limiter to requests with a known peer.
pub async fn per_client(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let (Some(limiter), Some(peer)) = (st.client_limiter.as_ref(), req.extensions().get::<PeerAddr>().copied()) else {
        return next.run(req).await;
    };
    if limiter.max_in_flight == 0 {
        return next.run(req).await;
    }
    let Some(_slot) = limiter.acquire(peer.0.ip()) else {
        let mut resp = ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            kind: "unavailable",
            message: format!(
                "too many concurrent requests from {} (limit {}); retry later",
                peer.0.ip(),
                limiter.max_in_flight
            ),
        }
        .into_response();
        resp.headers_mut().insert(RETRY_AFTER, HeaderValue::from_static("1"));
        return resp;
    };
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_per_ip_and_released_on_drop() {
        let l = ClientLimiter::new(2);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let s1 = l.acquire(a).unwrap();
        let _s2 = l.acquire(a).unwrap();
        assert!(l.acquire(a).is_none());
        assert!(l.acquire(b).is_some());
        drop(s1);
        assert!(l.acquire(a).is_some());
    }
}
