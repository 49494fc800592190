//! A real HTTP server standing in for an exporter: serves whatever body
//! a test sets per path, optionally gzipped, or hangs without answering.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Default)]
pub struct Page {
    pub body: Vec<u8>,
    pub content_type: String,
    pub gzip: bool,
    /// Accept the request and never answer.
    pub hang: bool,
}

#[derive(Clone)]
pub struct Exporter {
    pub addr: String,
    pages: Arc<Mutex<HashMap<String, Page>>>,
    /// Request heads seen, newest last.
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl Exporter {
    pub fn start() -> Exporter {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind exporter");
        let addr = listener.local_addr().unwrap().to_string();
        let pages: Arc<Mutex<HashMap<String, Page>>> = Arc::default();
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let (p, r) = (pages.clone(), requests.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (p, r) = (p.clone(), r.clone());
                std::thread::spawn(move || serve(conn, &p, &r));
            }
        });
        Exporter { addr, pages, requests }
    }

    pub fn set(&self, path: &str, page: Page) {
        self.pages.lock().unwrap().insert(path.to_string(), page);
    }

    pub fn text(&self, path: &str, body: &str) {
        self.set(
            path,
            Page {
                body: body.as_bytes().to_vec(),
                content_type: "text/plain; version=0.0.4; charset=utf-8".into(),
                ..Page::default()
            },
        );
    }
}

fn serve(mut conn: TcpStream, pages: &Mutex<HashMap<String, Page>>, requests: &Mutex<Vec<String>>) {
    loop {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match conn.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                _ => return,
            }
        }
        let head = String::from_utf8_lossy(&head).to_string();
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
        let path = path.split('?').next().unwrap_or("/").to_string();
        requests.lock().unwrap().push(head.clone());
        let page = pages.lock().unwrap().get(&path).cloned();
        let Some(page) = page else {
            let _ = conn.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
            continue;
        };
        if page.hang {
            std::thread::sleep(Duration::from_secs(3600));
            return;
        }
        let mut body = page.body.clone();
        let mut extra = String::new();
        if page.gzip && head.to_ascii_lowercase().contains("accept-encoding: gzip") {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(&body).unwrap();
            body = enc.finish().unwrap();
            extra.push_str("content-encoding: gzip\r\n");
        }
        let resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: {}\r\ncontent-length: {}\r\n{extra}\r\n",
            page.content_type,
            body.len()
        );
        if conn.write_all(resp.as_bytes()).is_err() || conn.write_all(&body).is_err() {
            return;
        }
    }
}
