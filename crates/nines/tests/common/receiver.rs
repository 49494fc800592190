//! A real HTTP receiver for webhooks: records every POST body and
//! answers 200, or 500 for as many requests as a test asks to fail.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

type Taken = (std::time::Instant, String, serde_json::Value);

pub struct Receiver {
    /// `http://127.0.0.1:PORT/hook`.
    pub url: String,
    /// `http://127.0.0.1:PORT`: any path under it is taken too.
    pub base: String,
    received: Arc<Mutex<Vec<Taken>>>,
    failures_left: Arc<AtomicUsize>,
    pub refused: Arc<AtomicUsize>,
}

impl Receiver {
    pub fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let url = format!("{base}/hook");
        let received: Arc<Mutex<Vec<Taken>>> = Arc::default();
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
                            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                            r.lock().unwrap().push((std::time::Instant::now(), path, json));
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
            base,
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
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|(_, _, b)| b.clone())
            .collect()
    }

    /// Every body posted to `path`, in order.
    pub fn bodies_to(&self, path: &str) -> Vec<serde_json::Value> {
        let taken = self.received.lock().unwrap();
        taken
            .iter()
            .filter(|(_, p, _)| p == path)
            .map(|(_, _, b)| b.clone())
            .collect()
    }

    /// When each body was taken.
    pub fn times(&self) -> Vec<std::time::Instant> {
        self.received.lock().unwrap().iter().map(|(t, _, _)| *t).collect()
    }
}
