//! hyper answers requests it cannot parse (a URI over 64 KiB, a head past
//! its buffer, bytes that are not HTTP) itself, with an empty body, before
//! any handler sees them. This wrapper around the connection gives those
//! answers the API's error envelope, so every 4xx says what was wrong.
//!
//! It recognises them by shape: a 4xx or 5xx head with `content-length: 0`
//! written in one piece. nines's own error answers always have a body, so
//! only hyper's match.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pin_project_lite::pin_project! {
    /// A connection whose bodiless error answers are filled in.
    pub struct FillErrorBodies<T> {
        #[pin]
        io: T,
        // A rewritten answer not yet passed on.
        pending: Vec<u8>,
        max_header_bytes: usize,
    }
}

impl<T> FillErrorBodies<T> {
    /// Wraps `io`; `max_header_bytes` is named in the 431 message.
    pub fn new(io: T, max_header_bytes: usize) -> Self {
        Self {
            io,
            pending: Vec::new(),
            max_header_bytes,
        }
    }
}

/// The envelope for hyper's bodiless answer `head`, if it is one.
fn rewrite(head: &[u8], max_header_bytes: usize) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(head).ok()?;
    let (status_line, rest) = text.split_once("\r\n")?;
    let status: u16 = status_line.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()?;
    if !(400..600).contains(&status) || !text.ends_with("\r\n\r\n") {
        return None;
    }
    let headers: Vec<&str> = rest.trim_end().split("\r\n").collect();
    if !headers.iter().any(|h| h.eq_ignore_ascii_case("content-length: 0")) {
        return None;
    }
    let message = match status {
        414 => "the request URI is longer than 65534 bytes; send long queries in a POST body".to_string(),
        431 => format!(
            "the request head is larger than the limit of {max_header_bytes} bytes (set by server.max_header_size)"
        ),
        408 => "the request head did not arrive in time (server.read_header_timeout)".to_string(),
        505 => "only HTTP/1.1 and HTTP/1.0 are spoken here".to_string(),
        _ => "the request is not valid HTTP/1.1 (request line, URI or headers)".to_string(),
    };
    let kind = if status >= 500 { "internal" } else { "bad_data" };
    let body = serde_json::json!({"status": "error", "errorType": kind, "error": message}).to_string();
    let mut out = format!("{status_line}\r\n");
    for h in headers {
        if !h.to_ascii_lowercase().starts_with("content-length:") {
            out.push_str(h);
            out.push_str("\r\n");
        }
    }
    out.push_str(&format!(
        "content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    ));
    Some(out.into_bytes())
}

impl<T: AsyncWrite> FillErrorBodies<T> {
    /// Passes on what is pending; ready when nothing is.
    fn drain(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut this = self.project();
        while !this.pending.is_empty() {
            match this.io.as_mut().poll_write(cx, this.pending) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    this.pending.drain(..n);
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead> AsyncRead for FillErrorBodies<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_read(cx, buf)
    }
}

impl<T: AsyncWrite> AsyncWrite for FillErrorBodies<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.as_mut().drain(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
        let max = self.max_header_bytes;
        if buf.starts_with(b"HTTP/1.1 4") || buf.starts_with(b"HTTP/1.1 5") {
            if let Some(filled) = rewrite(buf, max) {
                *self.as_mut().project().pending = filled;
                // The caller's bytes are taken; the rewrite goes out in
                // their place on this and later polls.
                let _ = self.as_mut().drain(cx);
                return Poll::Ready(Ok(buf.len()));
            }
        }
        self.project().io.poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.as_mut().drain(cx) {
            Poll::Ready(Ok(())) => self.project().io.poll_flush(cx),
            other => other,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.as_mut().drain(cx) {
            Poll::Ready(Ok(())) => self.project().io.poll_shutdown(cx),
            other => other,
        }
    }

    // Not vectored: hyper then writes a head in one buffer, which is what
    // `rewrite` looks at.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bodiless_error_heads_are_filled_in() {
        let hyper = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let out = String::from_utf8(rewrite(hyper, 65536).unwrap()).unwrap();
        assert!(out.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{out}");
        assert!(out.contains("date: x\r\n"));
        let body = out.split_once("\r\n\r\n").unwrap().1;
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["errorType"], "bad_data");
        assert!(out.contains(&format!("content-length: {}\r\n", body.len())));
        assert!(rewrite(b"HTTP/1.1 404 Not Found\r\ncontent-length: 10\r\n\r\n", 1).is_none());
        assert!(rewrite(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", 1).is_none());
        assert!(rewrite(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\nrest", 1).is_none());
    }
}
