//! The HTTP side of a scrape: one client per job (TLS and auth settings
//! are per job), the headers Prometheus sends, gzip, the timeout and the
//! body size limit.

use crate::expfmt::Format;
use crate::spec::{Auth, ScrapeSpec};
use crate::target::Target;

/// What Prometheus asks for: OpenMetrics first, then the 0.0.4 text.
const ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,\
text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// Builds the client for a job.
pub fn build_client(spec: &ScrapeSpec) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .gzip(true)
        .no_proxy()
        .user_agent(concat!("nines/", env!("CARGO_PKG_VERSION")))
        .pool_max_idle_per_host(2)
        .danger_accept_invalid_certs(spec.tls.insecure_skip_verify);
    if let Some(ca) = &spec.tls.ca_file {
        let pem = std::fs::read(ca).map_err(|e| format!("reading tls_config.ca_file {}: {e}", ca.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("tls_config.ca_file {}: {e}", ca.display()))?;
        if certs.is_empty() {
            return Err(format!("tls_config.ca_file {} holds no PEM certificate", ca.display()));
        }
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    b.build().map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// Fetches a target's body. Errors are the text shown as `lastError`.
pub async fn fetch(client: &reqwest::Client, spec: &ScrapeSpec, target: &Target) -> Result<(Vec<u8>, Format), String> {
    let mut req = client
        .get(&target.url)
        .timeout(target.timeout)
        .header(reqwest::header::ACCEPT, ACCEPT)
        .header(
            "X-Prometheus-Scrape-Timeout-Seconds",
            format!("{}", target.timeout.as_secs_f64()),
        );
    match &spec.auth {
        Some(Auth::Basic { username, password }) => req = req.basic_auth(username, Some(password)),
        Some(Auth::Authorization { scheme, credentials }) => {
            req = req.header(reqwest::header::AUTHORIZATION, format!("{scheme} {credentials}"));
        }
        None => {}
    }
    let mut resp = req.send().await.map_err(describe)?;
    if !resp.status().is_success() {
        return Err(format!("server returned HTTP status {}", resp.status()));
    }
    let format = Format::from_content_type(
        resp.headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
    );
    let limit = spec.body_size_limit;
    let mut body = Vec::with_capacity(resp.content_length().unwrap_or(64 << 10).min(16 << 20) as usize);
    while let Some(chunk) = resp.chunk().await.map_err(describe)? {
        if limit > 0 && (body.len() + chunk.len()) as u64 > limit {
            return Err(format!("body size limit exceeded ({limit} bytes)"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, format))
}

fn describe(e: reqwest::Error) -> String {
    if e.is_timeout() {
        return "scrape timed out".into();
    }
    // reqwest's top-level message is generic; the source says what failed.
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}
