//! A real HTTP receiver for webhooks: records every POST body and
//! answers 200, or 500 for as many requests as a test asks to fail.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub struct Receiver {
    pub url: String,
    received: Arc<Mutex<Vec<(std::time::Instant, serde_json::Value)>>>,
    failures_left: Arc<AtomicUsize>,
    pub refused: Arc<AtomicUsize>,
}

impl Receiver {
    pub fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let received: Arc<Mutex<Vec<(std::time::Instant, serde_json::Value)>>> = Arc::default();
        let failures_left = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        let (r, f, n) = (received.clone(), failures_left.clone(), refused.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (r, f, n) = (r.clone(), f.clone(), n.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    loop {
                        let mut length = 0usize;
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        loop {
                            let mut h = String::new();
                            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                                return;
                            }
                            if h == "\r\n" {
                                break;
                            }
                            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                                length = v.trim().parse().unwrap_or(0);
                            }
                        }
                        let mut body = vec![0; length];
                        if reader.read_exact(&mut body).is_err() {
                            return;
                        }
                        let fail = f
                            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |x| x.checked_sub(1))
                            .is_ok();
                        let status = if fail {
                            n.fetch_add(1, Ordering::SeqCst);
                            "500 Internal Server Error"
                        } else {
                            let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
                            r.lock().unwrap().push((std::time::Instant::now(), json));
                            "200 OK"
                        };
                        let mut out = &conn;
                        let _ = out.write_all(format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n").as_bytes());
                    }
                });
            }
        });
        Receiver {
            url,
            received,
            failures_left,
            refused,
        }
    }

    /// The next `n` requests get 500.
    pub fn fail_next(&self, n: usize) {
        self.failures_left.store(n, Ordering::SeqCst);
    }

    /// Every body taken, in order.
    pub fn bodies(&self) -> Vec<serde_json::Value> {
        self.received.lock().unwrap().iter().map(|(_, b)| b.clone()).collect()
    }

    /// When each body was taken.
    pub fn times(&self) -> Vec<std::time::Instant> {
        self.received.lock().unwrap().iter().map(|(t, _)| *t).collect()
    }
}
