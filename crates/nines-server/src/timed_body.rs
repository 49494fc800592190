//! A request body that must keep arriving: a client that sends headers
//! and then stalls (or trickles) its body would otherwise hold its
//! connection and its per-client slots for ever.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// How long a body may go without bytes, and the slowest average rate it
/// may arrive at (after a grace of the same length).
#[derive(Debug, Clone, Copy)]
pub struct BodyPace {
    /// Longest wait for the next bytes (and the grace before the rate
    /// counts).
    pub idle: Duration,
    /// Bytes per second a body must average; 0: no rate check.
    pub min_bytes_per_sec: u64,
}

/// The error a stalled body ends with.
#[derive(Debug, thiserror::Error)]
#[error("the request body stalled: {0}")]
pub struct BodyStalled(String);

pin_project_lite::pin_project! {
    /// `inner`, cut off with [`BodyStalled`] when it falls behind its pace.
    pub struct TimedBody<B> {
        #[pin]
        inner: B,
        #[pin]
        timer: Sleep,
        pace: BodyPace,
        started: Instant,
        received: u64,
    }
}

impl<B> TimedBody<B> {
    /// Wraps `inner`; the clock starts now.
    pub fn new(inner: B, pace: BodyPace) -> Self {
        let started = Instant::now();
        Self {
            inner,
            timer: tokio::time::sleep_until(started + pace.idle),
            pace,
            started,
            received: 0,
        }
    }
}

/// When a body that has `received` bytes since `started` must next show
/// progress: `idle` after the latest bytes, and no later than its
/// rate allowance plus the grace.
fn next_deadline(pace: BodyPace, started: Instant, received: u64, now: Instant) -> Instant {
    let idle = now + pace.idle;
    if pace.min_bytes_per_sec == 0 {
        return idle;
    }
    let earned = Duration::from_secs_f64(received as f64 / pace.min_bytes_per_sec as f64);
    idle.min(started + pace.idle + earned)
}

impl<B> Body for TimedBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let mut this = self.project();
        match this.inner.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    *this.received += data.len() as u64;
                }
                let deadline = next_deadline(*this.pace, *this.started, *this.received, Instant::now());
                this.timer.as_mut().reset(deadline);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match this.timer.poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyStalled(format!(
                    "{} bytes in {:.1}s (at most {:?} without bytes, at least {} bytes/s on average)",
                    this.received,
                    this.started.elapsed().as_secs_f64(),
                    this.pace.idle,
                    this.pace.min_bytes_per_sec
                )))))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trickle_is_held_to_the_rate_after_the_grace() {
        let pace = BodyPace {
            idle: Duration::from_secs(30),
            min_bytes_per_sec: 1000,
        };
        let t0 = Instant::now();
        // Nothing yet: the idle limit.
        assert_eq!(next_deadline(pace, t0, 0, t0), t0 + Duration::from_secs(30));
        // One byte every 20 s never trips the idle limit, but the rate
        // allowance (30 s + 1 ms per byte) runs out.
        let later = t0 + Duration::from_secs(40);
        assert_eq!(next_deadline(pace, t0, 2, later), t0 + Duration::from_millis(30_002));
        // A fast body keeps the idle limit.
        assert_eq!(next_deadline(pace, t0, 1 << 20, later), later + Duration::from_secs(30));
    }
}
