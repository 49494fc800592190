//! Hand-rolled remote_write 1.0 encoding for the load generators (fast
//! enough not to be the bottleneck of a benchmark).

/// Appends a protobuf varint.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends a length-delimited field.
pub fn put_field_bytes(out: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
    out.push(tag);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// The protobuf bytes of a series' labels (repeated `Label labels = 1`).
pub fn encode_labels(labels: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (n, v) in labels {
        let mut l = Vec::new();
        put_field_bytes(&mut l, 0x0a, n.as_bytes());
        put_field_bytes(&mut l, 0x12, v.as_bytes());
        put_field_bytes(&mut out, 0x0a, &l);
    }
    out
}

/// One series for [`encode_series`]: its encoded labels and samples.
pub type SeriesRef<'a> = (&'a [u8], &'a [(i64, f64)]);

/// A snappy-compressed `WriteRequest` of series (encoded labels) with
/// several samples each.
pub fn encode_series(series: &[SeriesRef<'_>]) -> Vec<u8> {
    let mut req = Vec::new();
    let mut ts = Vec::new();
    let mut sample = Vec::with_capacity(20);
    for (labels, samples) in series {
        ts.clear();
        ts.extend_from_slice(labels);
        for &(t, v) in *samples {
            sample.clear();
            sample.push(0x09);
            sample.extend_from_slice(&v.to_bits().to_le_bytes());
            sample.push(0x10);
            put_varint(&mut sample, t as u64);
            put_field_bytes(&mut ts, 0x12, &sample);
        }
        put_field_bytes(&mut req, 0x0a, &ts);
    }
    snap::raw::Encoder::new().compress_vec(&req).unwrap_or_default()
}
