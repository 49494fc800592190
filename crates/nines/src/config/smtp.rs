//! `smtp:`: the mail server email notifications go through. STARTTLS is
//! required unless `require_tls: false` (as in Alertmanager); the server's
//! certificate is checked against the web's root certificates, or only
//! against `ca_file` when given.

use std::path::PathBuf;

use serde::Deserialize;

use super::Key;

/// `smtp:`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// `host:port` of the mail server.
    pub smarthost: String,
    /// The sender address.
    pub from: String,
    /// The name nines gives in EHLO (default `localhost`).
    #[serde(default)]
    pub hello: Option<String>,
    /// Whether STARTTLS is required (default true); without it mail goes
    /// in clear text.
    #[serde(default = "yes")]
    pub require_tls: bool,
    /// PEM file of the CA (or certificate) to trust instead of the web's
    /// roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Login, when the server wants one.
    #[serde(default)]
    pub username: Option<String>,
    /// A file holding the password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

fn yes() -> bool {
    true
}

impl SmtpConfig {
    /// The host and port of `smarthost`.
    pub fn host_port(&self) -> Option<(String, u16)> {
        let (host, port) = self.smarthost.rsplit_once(':')?;
        let port = port.parse().ok()?;
        (!host.is_empty()).then(|| (host.trim_matches(['[', ']']).to_string(), port))
    }

    /// The password, read from its file.
    pub fn password(&self) -> Result<Option<String>, String> {
        match &self.password_file {
            None => Ok(None),
            Some(f) => std::fs::read_to_string(f)
                .map(|t| Some(t.trim_end_matches(['\n', '\r']).to_string()))
                .map_err(|e| format!("password_file {}: {e}", f.display())),
        }
    }

    /// Every problem, keyed below `smtp`.
    pub fn validate(&self, out: &mut Vec<(Vec<Key>, String)>) {
        let at = |k: &'static str| vec![Key::from("smtp"), Key::from(k)];
        if self.host_port().is_none() {
            out.push((at("smarthost"), format!("{:?} is not host:port", self.smarthost)));
        }
        if !nines_routing::receiver::is_address_list(&self.from) || self.from.contains(',') {
            out.push((at("from"), format!("{:?} is not an email address", self.from)));
        }
        if let Some(ca) = &self.ca_file {
            if let Err(e) = std::fs::read(ca) {
                out.push((at("ca_file"), format!("{}: {e}", ca.display())));
            }
        }
        if self.username.is_some() != self.password_file.is_some() {
            out.push((
                at("username"),
                "give both username and password_file, or neither".into(),
            ));
        }
        if let Err(e) = self.password() {
            out.push((at("password_file"), e));
        }
    }
}
