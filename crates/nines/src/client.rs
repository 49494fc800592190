//! How CLI commands talk to a running server: plain HTTP or HTTPS (with
//! the public web roots, or only a given CA), and the bearer token.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

/// An HTTP agent plus the token to send.
pub struct Client {
    agent: ureq::Agent,
    token: Option<String>,
}

impl Client {
    /// A client trusting the public web roots, or only `ca_file`'s
    /// certificates when given (a private CA, or a self-signed server).
    pub fn new(token: Option<&str>, ca_file: Option<&Path>) -> Result<Self, String> {
        let mut builder = ureq::AgentBuilder::new();
        if let Some(ca) = ca_file {
            let mut roots = rustls::RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(ca).map_err(|e| format!("--ca-file {}: {e}", ca.display()))?;
            for cert in certs {
                let cert = cert.map_err(|e| format!("--ca-file {}: {e}", ca.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("--ca-file {}: {e}", ca.display()))?;
            }
            if roots.is_empty() {
                return Err(format!("--ca-file {} holds no PEM certificate", ca.display()));
            }
            let config =
                rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                    .with_safe_default_protocol_versions()
                    .map_err(|e| e.to_string())?
                    .with_root_certificates(roots)
                    .with_no_client_auth();
            builder = builder.tls_config(Arc::new(config));
        }
        Ok(Self {
            agent: builder.build(),
            token: token.map(str::to_string),
        })
    }

    fn authorize(&self, req: ureq::Request) -> ureq::Request {
        match &self.token {
            Some(t) => req.set("Authorization", &format!("Bearer {t}")),
            None => req,
        }
    }

    /// A POST request.
    pub fn post(&self, url: &str) -> ureq::Request {
        self.authorize(self.agent.post(url))
    }
}

impl Client {
    /// GETs `url` with `query` pairs and parses the JSON answer; the error
    /// says what failed, prefixed with `what` (the command).
    pub fn get_json(&self, what: &str, url: &str, query: &[(&str, &str)]) -> Result<serde_json::Value, String> {
        self.send_json(what, "GET", url, query, None)
    }

    /// GETs `url` and returns its body as text (Markdown, iCalendar…).
    pub fn get_text(&self, what: &str, url: &str) -> Result<String, String> {
        match self.authorize(self.agent.get(url)).call() {
            Ok(resp) => resp.into_string().map_err(|e| format!("{what}: reading {url}: {e}")),
            Err(ureq::Error::Status(code, resp)) => Err(status_error(what, url, code, resp)),
            Err(e) => Err(format!("{what}: cannot reach {url}: {e}")),
        }
    }

    /// Sends a request (with a JSON body when given) and parses the JSON
    /// answer, as [`Client::get_json`].
    pub fn send_json(
        &self,
        what: &str,
        method: &str,
        url: &str,
        query: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, String> {
        let mut req = self.authorize(self.agent.request(method, url));
        for (k, v) in query {
            req = req.query(k, v);
        }
        let sent = match body {
            Some(b) => req.set("Content-Type", "application/json").send_string(&b.to_string()),
            None => req.call(),
        };
        match sent {
            Ok(resp) => resp
                .into_string()
                .map_err(|e| e.to_string())
                .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
                .map_err(|e| format!("{what}: {url} answered with invalid JSON: {e}")),
            Err(ureq::Error::Status(code, resp)) => Err(status_error(what, url, code, resp)),
            Err(e) => Err(format!("{what}: cannot reach {url}: {e}")),
        }
    }
}

/// An error answer in words: the API's own when it sent its envelope.
fn status_error(what: &str, url: &str, code: u16, resp: ureq::Response) -> String {
    let text = resp.into_string().unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or(text);
    format!("{what}: {url} answered {code}: {message}")
}

/// A JSON value as a table cell: strings bare, null as `-`.
pub fn cell(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "-".to_string(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Rows as aligned columns, the first row being the header.
pub fn render_table<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in rows {
        let cells: Vec<String> = r.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// Prints an API answer's `data` as a table or JSON; exit 1 with the
/// error on stderr when there is none.
pub fn report(
    result: Result<serde_json::Value, String>,
    output: crate::targets::Output,
    render: impl Fn(&serde_json::Value) -> String,
) -> std::process::ExitCode {
    match result {
        Ok(body) => {
            match output {
                crate::targets::Output::Json => {
                    println!("{}", serde_json::to_string_pretty(&body["data"]).unwrap_or_default())
                }
                crate::targets::Output::Table => print!("{}", render(&body["data"])),
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}
