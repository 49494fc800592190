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

    /// A GET request.
    pub fn get(&self, url: &str) -> ureq::Request {
        self.authorize(self.agent.get(url))
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
        let mut req = self.get(url);
        for (k, v) in query {
            req = req.query(k, v);
        }
        match req.call() {
            Ok(resp) => resp
                .into_string()
                .map_err(|e| e.to_string())
                .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
                .map_err(|e| format!("{what}: {url} answered with invalid JSON: {e}")),
            Err(ureq::Error::Status(code, resp)) => Err(format!(
                "{what}: {url} answered {code}: {}",
                resp.into_string().unwrap_or_default()
            )),
            Err(e) => Err(format!("{what}: cannot reach {url}: {e}")),
        }
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
