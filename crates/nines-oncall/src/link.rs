//! Signed, expiring links: a notification carries a link that
//! acknowledges its page without a token, valid for a day, that nobody
//! can forge or stretch without the server's key.

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How long an ack link works.
pub const ACK_LINK_TTL_MS: i64 = 24 * 3_600_000;

/// How long a calendar feed link works: long enough for a subscription to
/// be worth having, short enough that a leaked link dies on its own. The
/// schedules API hands out a fresh one whenever asked.
pub const CALENDAR_LINK_TTL_MS: i64 = 90 * 24 * 3_600_000;

/// Signs and checks links with one key.
#[derive(Clone)]
pub struct LinkSigner {
    key: [u8; 32],
}

impl std::fmt::Debug for LinkSigner {
    // The key stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSigner")
    }
}

fn message(action: &str, id: i64, expires_s: i64) -> String {
    format!("{action}:{id}:{expires_s}")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

impl LinkSigner {
    /// A signer with `key`.
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    fn mac(&self, action: &str, id: i64, expires_s: i64) -> Hmac<Sha256> {
        // HMAC pads a key shorter than its 64-byte block with zeros, so
        // padding it here gives the same MAC through the infallible path.
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(&self.key);
        let mut mac = <Hmac<Sha256> as KeyInit>::new(&block.into());
        mac.update(message(action, id, expires_s).as_bytes());
        mac
    }

    /// The query string (`expires=…&sig=…`) of a link for `action` on
    /// page `id`, made at `now_ms`.
    pub fn sign(&self, action: &str, id: i64, now_ms: i64) -> String {
        self.sign_for(action, id, now_ms, ACK_LINK_TTL_MS)
    }

    /// [`LinkSigner::sign`] for a link that works for `ttl_ms`.
    pub fn sign_for(&self, action: &str, id: i64, now_ms: i64, ttl_ms: i64) -> String {
        let expires_s = now_ms.saturating_add(ttl_ms) / 1000;
        let sig = hex(&self.mac(action, id, expires_s).finalize().into_bytes());
        format!("expires={expires_s}&sig={sig}")
    }

    /// Whether a link's `expires` and `sig` are genuine and not past.
    pub fn verify(&self, action: &str, id: i64, expires: &str, sig: &str, now_ms: i64) -> bool {
        let Ok(expires_s) = expires.parse::<i64>() else {
            return false;
        };
        let Some(sig) = unhex(sig) else {
            return false;
        };
        now_ms / 1000 <= expires_s && self.mac(action, id, expires_s).verify_slice(&sig).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(query: &str) -> (String, String) {
        let mut expires = String::new();
        let mut sig = String::new();
        for kv in query.split('&') {
            match kv.split_once('=') {
                Some(("expires", v)) => expires = v.into(),
                Some(("sig", v)) => sig = v.into(),
                _ => {}
            }
        }
        (expires, sig)
    }

    #[test]
    fn links_work_for_their_page_and_action_until_they_expire() {
        let signer = LinkSigner::new([7; 32]);
        let (expires, sig) = parts(&signer.sign("ack", 12, 1_000_000));
        assert!(signer.verify("ack", 12, &expires, &sig, 1_000_000));
        assert!(signer.verify("ack", 12, &expires, &sig, 1_000_000 + ACK_LINK_TTL_MS));
        assert!(!signer.verify("ack", 12, &expires, &sig, 1_000_000 + ACK_LINK_TTL_MS + 1_000));
        assert!(!signer.verify("ack", 13, &expires, &sig, 1_000_000));
        assert!(!signer.verify("resolve", 12, &expires, &sig, 1_000_000));
        let later = (expires.parse::<i64>().unwrap() + 3600).to_string();
        assert!(!signer.verify("ack", 12, &later, &sig, 1_000_000));
        assert!(!LinkSigner::new([8; 32]).verify("ack", 12, &expires, &sig, 1_000_000));
        for bad in ["", "zz", "abc", "é"] {
            assert!(!signer.verify("ack", 12, &expires, bad, 1_000_000));
        }
        assert!(!signer.verify("ack", 12, "soon", &sig, 1_000_000));

        let (expires, sig) = parts(&signer.sign_for("calendar:primary", 0, 0, CALENDAR_LINK_TTL_MS));
        assert!(signer.verify("calendar:primary", 0, &expires, &sig, CALENDAR_LINK_TTL_MS));
        assert!(!signer.verify("calendar:primary", 0, &expires, &sig, CALENDAR_LINK_TTL_MS + 1_000));
        assert!(!signer.verify("calendar:other", 0, &expires, &sig, 0));
    }
}
