#![no_main]
//! Any `user`, `expires` and `sig` an ack link can carry is checked
//! without panicking, and none but the signed one is accepted.
use libfuzzer_sys::fuzz_target;
use nines_oncall::link::LinkSigner;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.splitn(3, '\n');
    let (user, expires, sig) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let signer = LinkSigner::new([42; 32]);
    let now = 1_795_514_400_000;
    let genuine = signer.sign(&format!("ack:{user}"), 7, now);
    let accepted = signer.verify(&format!("ack:{user}"), 7, expires, sig, now);
    if accepted {
        // The same instant (perhaps written "+…") and the genuine MAC.
        let (want_expires, want_sig) = genuine.split_once("&sig=").unwrap_or_default();
        assert_eq!(want_expires.trim_start_matches("expires=").parse::<i64>().ok(), expires.parse::<i64>().ok());
        assert_eq!(want_sig, sig.to_ascii_lowercase());
    }
});
