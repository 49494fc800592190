//! API tokens: bearer tokens with scopes, checked in constant time.
//!
//! Only SHA-256 digests of tokens are kept in memory; a presented token is
//! hashed and compared with every configured digest without stopping at
//! the first match, so timing reveals neither a token nor which one
//! matched. Tokens never reach a log line: errors name the token's
//! configured name at most.

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::AppState;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Send samples: remote_write, import, OTLP.
    Ingest,
    /// Read: queries, series, labels, export, targets, /metrics.
    Read,
    /// Respond to pages: acknowledge and resolve them.
    Respond,
    /// Administer: flush, backup, reload. Implies the others.
    Admin,
}

/// One configured token.
#[derive(Clone)]
pub struct Token {
    /// A name for logs and audit, never the secret.
    pub name: String,
    /// SHA-256 of the token.
    pub sha256: [u8; 32],
    /// What it may do.
    pub scopes: Vec<Scope>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token({}, {:?})", self.name, self.scopes)
    }
}

/// SHA-256 of a token, as stored.
pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Parses a 64-digit hex SHA-256.
pub fn parse_hex_digest(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

/// The configured tokens; none means the API is open.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    tokens: Vec<Token>,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// No or an unknown token: 401.
    Unauthenticated,
    /// A known token without the scope: 403.
    Forbidden {
        /// The token's configured name.
        token: String,
        /// The scope the route needs.
        needs: Scope,
    },
}

impl Auth {
    /// Tokens to check requests against.
    pub fn new(tokens: Vec<Token>) -> Self {
        Self { tokens }
    }

    /// True when no token is configured.
    pub fn is_open(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Checks an `Authorization` header value for a scope; the name of
    /// the token that passed (`None` when the API is open).
    pub fn check(&self, authorization: Option<&str>, needs: Scope) -> Result<Option<String>, Denied> {
        if self.is_open() {
            return Ok(None);
        }
        let presented = authorization
            .and_then(|h| {
                let (scheme, rest) = h.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .ok_or(Denied::Unauthenticated)?;
        let hash = digest(presented);
        let mut found: Option<&Token> = None;
        for t in &self.tokens {
            // No early exit: every digest is compared.
            if bool::from(t.sha256.ct_eq(&hash)) && found.is_none() {
                found = Some(t);
            }
        }
        let token = found.ok_or(Denied::Unauthenticated)?;
        if token.scopes.contains(&needs) || token.scopes.contains(&Scope::Admin) {
            Ok(Some(token.name.clone()))
        } else {
            Err(Denied::Forbidden {
                token: token.name.clone(),
                needs,
            })
        }
    }
}

/// The scope a request needs, by method and route pattern; `None` for
/// health probes, which stay open so load balancers and orchestrators need
/// no secret. Changes to SLO and alerting state (maintenance windows, gate
/// overrides, silences) are admin work; reading them is not.
pub fn scope_of(method: &Method, route: &str) -> Option<Scope> {
    match route {
        "/-/healthy" | "/-/ready" => None,
        // Signed links carry their own proof.
        r if r.starts_with("/p/") => None,
        r if (r.starts_with("/api/v1/pages/") || r.starts_with("/api/v1/incidents")) && method != Method::GET => {
            Some(Scope::Respond)
        }
        "/api/v1/write" | "/api/v1/import" | "/v1/metrics" | "/v2/enqueue" => Some(Scope::Ingest),
        r if r.starts_with("/api/v1/integrations/") => Some(Scope::Ingest),
        "/api/v1/heartbeats/{name}" => Some(Scope::Ingest),
        "/api/v1/deploys" | "/api/v1/changes" if method == Method::POST => Some(Scope::Ingest),
        "/-/reload" => Some(Scope::Admin),
        r if r.starts_with("/api/v1/admin/") => Some(Scope::Admin),
        r if (r.starts_with("/api/v1/maintenance")
            || r.starts_with("/api/v1/gate/overrides")
            || r.starts_with("/api/v1/silences"))
            && method != Method::GET =>
        {
            Some(Scope::Admin)
        }
        _ => Some(Scope::Read),
    }
}

/// The name of the token a request came with (`None` when the API is
/// open), for the audit trail.
#[derive(Debug, Clone, Default)]
pub struct Actor(pub Option<String>);

/// Middleware enforcing [`scope_of`] with the state's tokens.
pub async fn require(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("", |p| p.as_str())
        .to_string();
    let Some(needs) = scope_of(req.method(), &route) else {
        return next.run(req).await;
    };
    let header = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    let verdict = st.auth.read().check(header, needs);
    match verdict {
        Ok(token) => {
            let mut req = req;
            req.extensions_mut().insert(Actor(token));
            next.run(req).await
        }
        Err(Denied::Unauthenticated) => {
            let mut resp = ApiError {
                status: StatusCode::UNAUTHORIZED,
                kind: "unauthorized",
                message: "a valid bearer token is required (Authorization: Bearer <token>)".into(),
            }
            .into_response();
            resp.headers_mut().insert(
                WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"nines\""),
            );
            resp
        }
        Err(Denied::Forbidden { token, needs }) => ApiError {
            status: StatusCode::FORBIDDEN,
            kind: "forbidden",
            message: format!(
                "token {token:?} lacks the {} scope this endpoint needs",
                format!("{needs:?}").to_lowercase()
            ),
        }
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Auth {
        Auth::new(vec![
            Token {
                name: "grafana".into(),
                sha256: digest("read-secret"),
                scopes: vec![Scope::Read],
            },
            Token {
                name: "ops".into(),
                sha256: digest("admin-secret"),
                scopes: vec![Scope::Admin],
            },
        ])
    }

    #[test]
    fn scopes_are_enforced_and_admin_implies_the_rest() {
        let a = auth();
        assert_eq!(
            a.check(Some("Bearer read-secret"), Scope::Read),
            Ok(Some("grafana".into()))
        );
        assert_eq!(
            a.check(Some("bearer read-secret"), Scope::Read),
            Ok(Some("grafana".into()))
        );
        assert!(matches!(
            a.check(Some("Bearer read-secret"), Scope::Ingest),
            Err(Denied::Forbidden { .. })
        ));
        assert_eq!(
            a.check(Some("Bearer admin-secret"), Scope::Ingest),
            Ok(Some("ops".into()))
        );
        assert_eq!(a.check(Some("Bearer nope"), Scope::Read), Err(Denied::Unauthenticated));
        assert_eq!(a.check(None, Scope::Read), Err(Denied::Unauthenticated));
        assert_eq!(
            a.check(Some("Basic read-secret"), Scope::Read),
            Err(Denied::Unauthenticated)
        );
        assert_eq!(Auth::default().check(None, Scope::Admin), Ok(None));
    }

    #[test]
    fn hex_digests_parse() {
        let d = digest("x");
        let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(parse_hex_digest(&hex), Some(d));
        assert_eq!(parse_hex_digest("abc"), None);
        assert_eq!(parse_hex_digest(&"g".repeat(64)), None);
    }

    #[test]
    fn routes_map_to_scopes() {
        let get = Method::GET;
        assert_eq!(scope_of(&get, "/-/healthy"), None);
        assert_eq!(scope_of(&Method::POST, "/p/{id}/ack"), None);
        assert_eq!(scope_of(&get, "/p/schedules/{name}/calendar.ics"), None);
        assert_eq!(scope_of(&Method::POST, "/api/v1/pages/{id}/ack"), Some(Scope::Respond));
        assert_eq!(scope_of(&get, "/api/v1/pages/{id}"), Some(Scope::Read));
        assert_eq!(scope_of(&Method::POST, "/api/v1/write"), Some(Scope::Ingest));
        assert_eq!(
            scope_of(&Method::POST, "/api/v1/integrations/pagerduty"),
            Some(Scope::Ingest)
        );
        assert_eq!(scope_of(&Method::POST, "/api/v1/admin/backup"), Some(Scope::Admin));
        assert_eq!(scope_of(&get, "/api/v1/series"), Some(Scope::Read));
        assert_eq!(scope_of(&get, ""), Some(Scope::Read));
        assert_eq!(scope_of(&get, "/api/v1/maintenance"), Some(Scope::Read));
        assert_eq!(scope_of(&Method::POST, "/api/v1/maintenance"), Some(Scope::Admin));
        assert_eq!(
            scope_of(&Method::DELETE, "/api/v1/maintenance/{id}"),
            Some(Scope::Admin)
        );
        assert_eq!(scope_of(&get, "/api/v1/gate"), Some(Scope::Read));
        assert_eq!(scope_of(&Method::POST, "/api/v1/gate/overrides"), Some(Scope::Admin));
        assert_eq!(
            scope_of(&Method::POST, "/api/v1/heartbeats/{name}"),
            Some(Scope::Ingest)
        );
        assert_eq!(scope_of(&get, "/api/v1/heartbeats"), Some(Scope::Read));
        assert_eq!(scope_of(&Method::POST, "/api/v1/silences"), Some(Scope::Admin));
        assert_eq!(scope_of(&Method::DELETE, "/api/v1/silences/{id}"), Some(Scope::Admin));
        assert_eq!(scope_of(&get, "/api/v1/silences"), Some(Scope::Read));
    }
}
