//! Safe operation: tokens and scopes, refusing an open non-loopback
//! listener, TLS, header and per-client limits.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{wait_until, Server};
use sha2::Digest;

fn hex_sha256(s: &str) -> String {
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn call(server: &Server, method: &str, path: &str, token: Option<&str>, body: &[u8]) -> (u16, String, Option<String>) {
    let mut req = ureq::request(method, &format!("{}{path}", server.url));
    if let Some(t) = token {
        req = req.set("Authorization", &format!("Bearer {t}"));
    }
    let resp = if body.is_empty() {
        req.call()
    } else {
        req.send_bytes(body)
    };
    match resp {
        Ok(r) => (
            r.status(),
            String::new(),
            r.header("www-authenticate").map(String::from),
        ),
        Err(ureq::Error::Status(code, r)) => {
            let challenge = r.header("www-authenticate").map(String::from);
            (code, r.into_string().unwrap_or_default(), challenge)
        }
        Err(e) => panic!("{e}"),
    }
}

const READER: &str = "reader-token-4f1c";
const SENDER: &str = "sender-token-9a2b";
const ADMIN: &str = "admin-token-77de";

fn tokens_config(dir: &Path) -> String {
    let sender_file = dir.join("sender.token");
    std::fs::write(&sender_file, format!("{SENDER}\n")).unwrap();
    format!(
        "auth:\n  tokens:\n\
         \x20 - name: grafana\n    scopes: [read]\n    sha256: {}\n\
         \x20 - name: agent\n    scopes: [ingest]\n    token_file: {}\n\
         \x20 - name: ops\n    scopes: [admin]\n    sha256: {}\n",
        hex_sha256(READER),
        sender_file.display(),
        hex_sha256(ADMIN)
    )
}

#[test]
fn tokens_and_scopes_are_enforced_and_never_logged() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("nines.yaml");
    std::fs::write(&config, tokens_config(dir.path())).unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap(), "--log-level", "debug"],
    );
    let (code, body, challenge) = call(&server, "GET", "/api/v1/labels", None, b"");
    assert_eq!(code, 401, "{body}");
    assert!(body.contains("\"errorType\":\"unauthorized\""), "{body}");
    assert_eq!(challenge.as_deref(), Some("Bearer realm=\"nines\""));
    assert_eq!(call(&server, "GET", "/api/v1/labels", Some("wrong"), b"").0, 401);
    assert_eq!(call(&server, "GET", "/api/v1/labels", Some(READER), b"").0, 200);
    assert_eq!(call(&server, "GET", "/metrics", None, b"").0, 401);
    assert_eq!(call(&server, "GET", "/metrics", Some(READER), b"").0, 200);
    assert_eq!(call(&server, "GET", "/-/healthy", None, b"").0, 200);

    let line = br#"{"metric":{"__name__":"m"},"values":[1],"timestamps":[1700000000000]}"#;
    let (code, body, _) = call(&server, "POST", "/api/v1/import", Some(READER), line);
    assert_eq!(code, 403, "{body}");
    let err: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(err["errorType"], "forbidden");
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .starts_with("token \"grafana\" lacks the ingest scope"),
        "{body}"
    );
    assert_eq!(call(&server, "POST", "/api/v1/import", Some(SENDER), line).0, 204);
    assert_eq!(
        call(&server, "GET", "/api/v1/series?match[]=m", Some(SENDER), b"").0,
        403
    );
    assert_eq!(call(&server, "POST", "/api/v1/admin/flush", Some(SENDER), b"").0, 403);
    assert_eq!(call(&server, "POST", "/-/reload", Some(READER), b"").0, 403);
    // admin implies read and ingest.
    assert_eq!(call(&server, "POST", "/api/v1/admin/flush", Some(ADMIN), b"").0, 200);
    assert_eq!(
        call(&server, "GET", "/api/v1/series?match[]=m", Some(ADMIN), b"").0,
        200
    );

    // The CLI sends its token from the environment.
    let out = Command::new(env!("CARGO_BIN_EXE_nines"))
        .args(["targets", "--server", &server.url])
        .env("NINES_TOKEN", READER)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let logs = server.stderr.lock().unwrap().clone();
    for secret in [READER, SENDER, ADMIN, "wrong"] {
        assert!(!logs.contains(secret), "token {secret} in the logs:\n{logs}");
    }
}

#[test]
fn a_reachable_listener_without_tokens_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // Refused before anything binds, so nothing listens beyond loopback.
    let out = Command::new(env!("CARGO_BIN_EXE_nines"))
        .args(["serve", "--listen", "0.0.0.0:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to listen on 0.0.0.0:0 without API tokens"),
        "{err}"
    );
    assert!(err.contains("--insecure-allow-unauthenticated"), "{err}");
    assert!(!dir.path().join("data").exists(), "nothing may be created");
}

fn raw_request(url: &str, request: &[u8]) -> String {
    let addr = url.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).to_string()
}

#[test]
fn oversized_heads_and_bodies_are_refused_and_busy_clients_are_limited() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("nines.yaml");
    std::fs::write(
        &config,
        "server:\n  max_header_size: 16KiB\n  max_concurrent_requests_per_client: 1\ningest:\n  max_body_size: 4KiB\n",
    )
    .unwrap();
    let server = Server::start(&dir.path().join("data"), &["--config", config.to_str().unwrap()]);

    let huge = format!(
        "GET /-/healthy HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(64 << 10)
    );
    let resp = raw_request(&server.url, huge.as_bytes());
    assert!(resp.starts_with("HTTP/1.1 431"), "{resp:.80}");

    let body = vec![b'x'; 8 << 10];
    let (code, _, _) = call(&server, "POST", "/api/v1/import", None, &body);
    assert_eq!(code, 413);

    // One request in flight (its body never finishes) uses the client's
    // only slot: the next one from the same address is turned away. Raw
    // connections, so no client-side pooling blurs what is in flight.
    let status_of = |resp: &str| resp.split_whitespace().nth(1).unwrap_or("none").to_string();
    let labels = || {
        raw_request(
            &server.url,
            b"GET /api/v1/labels HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
    };
    let addr = server.url.trim_start_matches("http://").to_string();
    let open_slow = || {
        let mut slow = TcpStream::connect(&addr).unwrap();
        slow.write_all(b"POST /api/v1/import HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
            .unwrap();
        slow.set_nonblocking(true).unwrap();
        slow
    };
    let mut slow = open_slow();
    let refused = wait_until("the second request refused", Duration::from_secs(10), || {
        let resp = labels();
        if status_of(&resp) == "429" {
            return Some(resp);
        }
        // The server may have taken one of our probes first and refused
        // the slow request itself; then it has an answer: start it again.
        let mut byte = [0u8; 1];
        if slow.peek(&mut byte).is_ok_and(|n| n > 0) {
            slow = open_slow();
        }
        None
    });
    assert!(refused.contains("too many concurrent requests"), "{refused}");
    assert!(refused.to_ascii_lowercase().contains("retry-after: 1"), "{refused}");
    drop(slow);
    wait_until("the slot freed", Duration::from_secs(10), || {
        (status_of(&labels()) == "200").then_some(())
    });
    assert_eq!(call(&server, "GET", "/-/healthy", None, b"").0, 200);
}

#[test]
fn tls_listener_with_tokens_scraped_by_a_second_nines() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let cert_file = dir.path().join("cert.pem");
    let key_file = dir.path().join("key.pem");
    std::fs::write(&cert_file, cert.cert.pem()).unwrap();
    std::fs::write(&key_file, cert.key_pair.serialize_pem()).unwrap();
    let a_config = dir.path().join("a.yaml");
    std::fs::write(
        &a_config,
        format!(
            "server:\n  tls_cert_file: {}\n  tls_key_file: {}\n{}",
            cert_file.display(),
            key_file.display(),
            tokens_config(dir.path())
        ),
    )
    .unwrap();
    let a = Server::start(&dir.path().join("a"), &["--config", a_config.to_str().unwrap()]);
    assert!(a.url.starts_with("https://"), "{}", a.url);
    let a_addr = a.url.trim_start_matches("https://").to_string();

    // The CLI speaks HTTPS, trusting the given CA, with a token.
    let out = Command::new(env!("CARGO_BIN_EXE_nines"))
        .args(["targets", "--server", &a.url, "--ca-file", cert_file.to_str().unwrap()])
        .env("NINES_TOKEN", READER)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("JOB"));
    // Without the CA the public roots do not vouch for a self-signed server.
    let out = Command::new(env!("CARGO_BIN_EXE_nines"))
        .args(["targets", "--server", &a.url])
        .env("NINES_TOKEN", READER)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot reach"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Plain HTTP to the TLS port gets no answer of ours.
    let resp = raw_request(
        &format!("http://{a_addr}"),
        b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert!(!resp.contains("Healthy"), "{resp}");

    let reader_file = dir.path().join("reader.token");
    std::fs::write(&reader_file, READER).unwrap();
    let b_config = dir.path().join("b.yaml");
    std::fs::write(
        &b_config,
        format!(
            "scrape_configs:\n\
             - job_name: secure\n  scrape_interval: 1s\n  scheme: https\n\
             \x20 tls_config:\n    ca_file: {}\n\
             \x20 authorization:\n    credentials_file: {}\n\
             \x20 static_configs:\n  - targets: ['{a_addr}']\n\
             - job_name: no_token\n  scrape_interval: 1s\n  scheme: https\n\
             \x20 tls_config:\n    ca_file: {}\n\
             \x20 static_configs:\n  - targets: ['{a_addr}']\n\
             - job_name: untrusted\n  scrape_interval: 1s\n  scheme: https\n\
             \x20 static_configs:\n  - targets: ['{a_addr}']\n",
            cert_file.display(),
            reader_file.display(),
            cert_file.display(),
        ),
    )
    .unwrap();
    let b = Server::start(&dir.path().join("b"), &["--config", b_config.to_str().unwrap()]);
    let line = wait_until("B scraped A over TLS with a token", Duration::from_secs(15), || {
        b.export("nines_head_series{job=\"secure\"}").into_iter().next()
    });
    assert_eq!(line["metric"]["instance"], a_addr.as_str());
    let (_, body) = b.get("/api/v1/targets");
    let data: serde_json::Value = serde_json::from_str(&body).unwrap();
    let by_job = |job: &str| {
        wait_until(&format!("{job} scraped"), Duration::from_secs(15), || {
            let (_, body) = b.get("/api/v1/targets");
            let data: serde_json::Value = serde_json::from_str(&body).unwrap();
            data["data"]["activeTargets"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["scrapePool"] == job && t["health"] != "unknown")
                .cloned()
        })
    };
    assert!(data["data"]["activeTargets"].is_array());
    assert_eq!(by_job("secure")["health"], "up");
    let no_token = by_job("no_token");
    assert_eq!(no_token["health"], "down");
    assert!(no_token["lastError"].as_str().unwrap().contains("401"), "{no_token}");
    let untrusted = by_job("untrusted");
    assert_eq!(untrusted["health"], "down");
    assert!(
        untrusted["lastError"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("certificate"),
        "{untrusted}"
    );
}
