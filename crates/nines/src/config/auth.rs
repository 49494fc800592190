//! `auth:` API tokens, given by SHA-256 digest, file or environment
//! variable. Only digests are kept once loaded.

use std::path::PathBuf;

use nines_server::auth::{digest, parse_hex_digest, Scope, Token};
use serde::Deserialize;

use super::Key;

/// `auth:`
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Accepted bearer tokens. None: the API is open (loopback only).
    pub tokens: Vec<TokenConfig>,
}

/// One token.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Who holds it (shown in errors and logs, never the token).
    pub name: String,
    /// What it may do: `ingest`, `read`, `respond`, `admin` (admin implies
    /// the others).
    pub scopes: Vec<Scope>,
    /// Hex SHA-256 of the token (`printf %s "$TOKEN" | sha256sum`).
    pub sha256: Option<String>,
    /// A file holding the token itself.
    pub token_file: Option<PathBuf>,
    /// An environment variable holding the token itself.
    pub token_env: Option<String>,
}

impl std::fmt::Debug for TokenConfig {
    // Keeps even the digest out of debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenConfig({}, {:?})", self.name, self.scopes)
    }
}

impl TokenConfig {
    fn resolve(&self) -> Result<[u8; 32], String> {
        match (&self.sha256, &self.token_file, &self.token_env) {
            (Some(hex), None, None) => {
                parse_hex_digest(hex.trim()).ok_or_else(|| "sha256 must be 64 hexadecimal digits".to_string())
            }
            (None, Some(file), None) => {
                let text = std::fs::read_to_string(file).map_err(|e| format!("token_file {}: {e}", file.display()))?;
                let token = text.trim_end_matches(['\n', '\r']);
                if token.is_empty() {
                    return Err(format!("token_file {} is empty", file.display()));
                }
                Ok(digest(token))
            }
            (None, None, Some(var)) => match std::env::var(var) {
                Ok(t) if !t.is_empty() => Ok(digest(&t)),
                _ => Err(format!("environment variable {var} is not set or empty")),
            },
            _ => Err("give exactly one of sha256, token_file or token_env".into()),
        }
    }
}

impl AuthConfig {
    /// Every problem, keyed below `auth`.
    pub fn validate(&self, out: &mut Vec<(Vec<Key>, String)>) {
        let mut names = std::collections::HashSet::new();
        for (i, t) in self.tokens.iter().enumerate() {
            let at = |k: &'static str| vec![Key::from("auth"), Key::from("tokens"), Key::Index(i), Key::from(k)];
            if t.name.is_empty() {
                out.push((at("name"), "must not be empty".into()));
            } else if !names.insert(t.name.as_str()) {
                out.push((at("name"), format!("{:?} is used by an earlier token", t.name)));
            }
            if t.scopes.is_empty() {
                out.push((
                    at("scopes"),
                    "must list at least one of ingest, read, respond, admin".into(),
                ));
            }
            if let Err(e) = t.resolve() {
                out.push((vec![Key::from("auth"), Key::from("tokens"), Key::Index(i)], e));
            }
        }
    }

    /// The tokens as digests.
    pub fn tokens(&self) -> Result<Vec<Token>, String> {
        self.tokens
            .iter()
            .map(|t| {
                Ok(Token {
                    name: t.name.clone(),
                    sha256: t.resolve().map_err(|e| format!("token {}: {e}", t.name))?,
                    scopes: t.scopes.clone(),
                })
            })
            .collect()
    }
}
