#![no_main]
//! remote_write bodies: the protobuf decoder (and snappy in front of it)
//! never panic, and decoded spans stay inside their arrays.
use libfuzzer_sys::fuzz_target;
use nines_server::prompb::decode_write_request;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = decode_write_request(data) {
        for s in &req.series {
            assert!(s.labels.end <= req.labels.len() && s.samples.end <= req.samples.len());
        }
    }
    if let Ok(n) = snap::raw::decompress_len(data) {
        if n < 1 << 20 {
            if let Ok(raw) = snap::raw::Decoder::new().decompress_vec(data) {
                let _ = decode_write_request(&raw);
            }
        }
    }
});
