//! HTTP by hand over a TCP socket: for requests no client library would
//! send (invalid UTF-8 in the path, a body shorter than declared, a head
//! of any size), and for connections a test drops on purpose.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// An answer: status (0 if none came), headers in lower case, body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: String,
}

/// The `host:port` of a server URL.
pub fn authority(url: &str) -> &str {
    url.trim_start_matches("http://")
}

/// Sends `method path` with `headers` and `body` (Content-Length set
/// from it unless given) on a fresh connection and reads the answer.
pub fn request(url: &str, method: &str, path: &[u8], headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let mut req = Vec::new();
    req.extend_from_slice(method.as_bytes());
    req.push(b' ');
    req.extend_from_slice(path);
    req.extend_from_slice(b" HTTP/1.1\r\nHost: nines\r\nConnection: close\r\n");
    let mut has_length = false;
    for (name, value) in headers {
        has_length |= name.eq_ignore_ascii_case("content-length");
        req.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    if !has_length && (!body.is_empty() || method == "POST") {
        req.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    req.extend_from_slice(body);
    send(url, &req)
}

/// Writes `raw` bytes and reads until the server closes (at most 60 s).
pub fn send(url: &str, raw: &[u8]) -> Answer {
    send_and(url, raw, false)
}

/// Writes `raw` bytes, closes the sending side (a client that gives up
/// mid-request) and reads whatever comes back.
pub fn send_truncated(url: &str, raw: &[u8]) -> Answer {
    send_and(url, raw, true)
}

fn send_and(url: &str, raw: &[u8], close_after: bool) -> Answer {
    let mut s = TcpStream::connect(authority(url)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
    // The server may answer and close before all is written (a head over
    // its limit): what it said still counts.
    let _ = s.write_all(raw);
    if close_after {
        let _ = s.shutdown(std::net::Shutdown::Write);
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    parse(&out)
}

fn parse(raw: &[u8]) -> Answer {
    let text = String::from_utf8_lossy(raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text.as_str(), ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let head = head.to_ascii_lowercase();
    let body = if head.contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_string()
    };
    Answer { status, head, body }
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}
