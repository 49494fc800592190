//! A zero-copy decoder for Prometheus remote_write v1 `WriteRequest`
//! protobuf messages. Labels are borrowed from the decompressed body, so an
//! existing series costs no allocation on the ingest path.
//!
//! ```text
//! WriteRequest { repeated TimeSeries timeseries = 1; repeated MetricMetadata metadata = 3; }
//! TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2;
//!                repeated Exemplar exemplars = 3; repeated Histogram histograms = 4; }
//! Label        { string name = 1; string value = 2; }
//! Sample       { double value = 1; int64 timestamp = 2; }
//! ```

use std::ops::Range;

/// Why a payload does not decode; names the byte offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed remote_write protobuf at byte {offset}: {reason}")]
pub struct DecodeError {
    /// Offset into the decompressed body.
    pub offset: usize,
    /// What was wrong.
    pub reason: String,
}

/// One decoded series: ranges into [`WriteRequest::labels`] and
/// [`WriteRequest::samples`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesSpan {
    /// Its labels.
    pub labels: Range<usize>,
    /// Its samples.
    pub samples: Range<usize>,
}

/// A decoded `WriteRequest`, borrowing strings from the input.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct WriteRequest<'a> {
    /// All label pairs, series after series.
    pub labels: Vec<(&'a str, &'a str)>,
    /// All samples `(timestamp ms, value)`, series after series.
    pub samples: Vec<(i64, f64)>,
    /// The series.
    pub series: Vec<SeriesSpan>,
    /// Native histogram samples, which nines does not store yet.
    pub histograms: usize,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    fn err(&self, reason: impl Into<String>) -> DecodeError {
        DecodeError {
            offset: self.base + self.pos,
            reason: reason.into(),
        }
    }

    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    #[inline(always)]
    fn varint(&mut self) -> Result<u64, DecodeError> {
        // Tags and short lengths are one byte: the common case.
        if let Some(&b) = self.buf.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(u64::from(b));
            }
        }
        self.varint_slow()
    }

    #[inline(never)]
    fn varint_slow(&mut self) -> Result<u64, DecodeError> {
        let mut out = 0u64;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(self.err("truncated varint"));
            };
            self.pos += 1;
            if i == 9 && b > 1 {
                return Err(self.err("varint overflows 64 bits"));
            }
            out |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(out);
            }
        }
        Err(self.err("varint too long"))
    }

    #[inline]
    fn key(&mut self) -> Result<(u64, u8), DecodeError> {
        let k = self.varint()?;
        let field = k >> 3;
        if field == 0 {
            return Err(self.err("field number 0"));
        }
        Ok((field, (k & 7) as u8))
    }

    #[inline]
    fn bytes(&mut self) -> Result<(&'a [u8], usize), DecodeError> {
        let n = self.varint()?;
        let n = usize::try_from(n).map_err(|_| self.err("length too large"))?;
        let start = self.pos;
        let end = start
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| self.err(format!("length {n} runs past the end")))?;
        self.pos = end;
        Ok((&self.buf[start..end], self.base + start))
    }

    fn fixed64(&mut self) -> Result<u64, DecodeError> {
        let b = self
            .buf
            .get(self.pos..self.pos + 8)
            .ok_or_else(|| self.err("truncated fixed64"))?;
        self.pos += 8;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn skip(&mut self, wire: u8) -> Result<(), DecodeError> {
        match wire {
            0 => self.varint().map(drop),
            1 => self.fixed64().map(drop),
            2 => self.bytes().map(drop),
            5 => {
                if self.pos + 4 > self.buf.len() {
                    return Err(self.err("truncated fixed32"));
                }
                self.pos += 4;
                Ok(())
            }
            w => Err(self.err(format!("unsupported wire type {w}"))),
        }
    }

    fn expect(&self, wire: u8, want: u8, what: &str) -> Result<(), DecodeError> {
        if wire == want {
            Ok(())
        } else {
            Err(self.err(format!("{what} has wire type {wire}, expected {want}")))
        }
    }
}

#[inline]
fn utf8<'a>(bytes: &'a [u8], at: usize, what: &str) -> Result<&'a str, DecodeError> {
    if bytes.is_ascii() {
        // SAFETY: every ASCII byte sequence is valid UTF-8. Label strings
        // are nearly always ASCII, and this skips the general validator's
        // per-call cost on the hottest decode path.
        return Ok(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    std::str::from_utf8(bytes).map_err(|e| DecodeError {
        offset: at + e.valid_up_to(),
        reason: format!("{what} is not valid UTF-8"),
    })
}

/// Decodes a (decompressed) `WriteRequest`.
pub fn decode_write_request(buf: &[u8]) -> Result<WriteRequest<'_>, DecodeError> {
    // Rough sizes of a typical series (~6 labels, one sample) so the vectors
    // rarely grow; the estimate only affects capacity.
    let mut out = WriteRequest {
        labels: Vec::with_capacity(buf.len() / 24),
        samples: Vec::with_capacity(buf.len() / 96),
        series: Vec::with_capacity(buf.len() / 128),
        histograms: 0,
    };
    let mut r = Reader { buf, pos: 0, base: 0 };
    while !r.done() {
        let (field, wire) = r.key()?;
        if field == 1 {
            r.expect(wire, 2, "timeseries")?;
            let (ts, at) = r.bytes()?;
            decode_series(ts, at, &mut out)?;
        } else {
            r.skip(wire)?;
        }
    }
    Ok(out)
}

fn decode_series<'a>(buf: &'a [u8], base: usize, out: &mut WriteRequest<'a>) -> Result<(), DecodeError> {
    let (l0, s0) = (out.labels.len(), out.samples.len());
    let mut r = Reader { buf, pos: 0, base };
    while !r.done() {
        let (field, wire) = r.key()?;
        match field {
            1 => {
                r.expect(wire, 2, "label")?;
                let (lb, at) = r.bytes()?;
                out.labels.push(decode_label(lb, at)?);
            }
            2 => {
                r.expect(wire, 2, "sample")?;
                let (sb, at) = r.bytes()?;
                out.samples.push(decode_sample(sb, at)?);
            }
            4 => {
                out.histograms += 1;
                r.skip(wire)?;
            }
            _ => r.skip(wire)?,
        }
    }
    out.series.push(SeriesSpan {
        labels: l0..out.labels.len(),
        samples: s0..out.samples.len(),
    });
    Ok(())
}

fn decode_label(buf: &[u8], base: usize) -> Result<(&str, &str), DecodeError> {
    let mut r = Reader { buf, pos: 0, base };
    let (mut name, mut value) = ("", "");
    while !r.done() {
        let (field, wire) = r.key()?;
        match field {
            1 => {
                r.expect(wire, 2, "label name")?;
                let (b, at) = r.bytes()?;
                name = utf8(b, at, "label name")?;
            }
            2 => {
                r.expect(wire, 2, "label value")?;
                let (b, at) = r.bytes()?;
                value = utf8(b, at, "label value")?;
            }
            _ => r.skip(wire)?,
        }
    }
    Ok((name, value))
}

fn decode_sample(buf: &[u8], base: usize) -> Result<(i64, f64), DecodeError> {
    let mut r = Reader { buf, pos: 0, base };
    let (mut t, mut v) = (0i64, 0f64);
    while !r.done() {
        let (field, wire) = r.key()?;
        match field {
            1 => {
                r.expect(wire, 1, "sample value")?;
                v = f64::from_bits(r.fixed64()?);
            }
            2 => {
                r.expect(wire, 0, "sample timestamp")?;
                t = r.varint()? as i64;
            }
            _ => r.skip(wire)?,
        }
    }
    Ok((t, v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use prost::Message;

    #[derive(Clone, PartialEq, Message)]
    struct PLabel {
        #[prost(string, tag = "1")]
        name: String,
        #[prost(string, tag = "2")]
        value: String,
    }
    #[derive(Clone, PartialEq, Message)]
    struct PSample {
        #[prost(double, tag = "1")]
        value: f64,
        #[prost(int64, tag = "2")]
        timestamp: i64,
    }
    #[derive(Clone, PartialEq, Message)]
    struct PSeries {
        #[prost(message, repeated, tag = "1")]
        labels: Vec<PLabel>,
        #[prost(message, repeated, tag = "2")]
        samples: Vec<PSample>,
    }
    #[derive(Clone, PartialEq, Message)]
    struct PMeta {
        #[prost(string, tag = "2")]
        family: String,
    }
    #[derive(Clone, PartialEq, Message)]
    struct PWrite {
        #[prost(message, repeated, tag = "1")]
        timeseries: Vec<PSeries>,
        #[prost(message, repeated, tag = "3")]
        metadata: Vec<PMeta>,
    }

    fn arb_write() -> impl Strategy<Value = PWrite> {
        let label = (".{0,8}", ".{0,8}").prop_map(|(name, value)| PLabel { name, value });
        let sample = (any::<f64>(), any::<i64>()).prop_map(|(value, timestamp)| PSample { value, timestamp });
        let series = (
            proptest::collection::vec(label, 0..5),
            proptest::collection::vec(sample, 0..5),
        )
            .prop_map(|(labels, samples)| PSeries { labels, samples });
        (
            proptest::collection::vec(series, 0..6),
            proptest::collection::vec(".{0,5}".prop_map(|family| PMeta { family }), 0..2),
        )
            .prop_map(|(timeseries, metadata)| PWrite { timeseries, metadata })
    }

    proptest! {
        #[test]
        fn decodes_what_prost_encodes(msg in arb_write()) {
            let bytes = msg.encode_to_vec();
            let got = decode_write_request(&bytes).unwrap();
            prop_assert_eq!(got.series.len(), msg.timeseries.len());
            for (span, ts) in got.series.iter().zip(&msg.timeseries) {
                let labels: Vec<(String, String)> = got.labels[span.labels.clone()].iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
                let want: Vec<(String, String)> = ts.labels.iter().map(|l| (l.name.clone(), l.value.clone())).collect();
                prop_assert_eq!(labels, want);
                let samples = &got.samples[span.samples.clone()];
                prop_assert_eq!(samples.len(), ts.samples.len());
                for (a, b) in samples.iter().zip(&ts.samples) {
                    prop_assert_eq!(a.0, b.timestamp);
                    // proto3 leaves out a value equal to the default, so -0.0
                    // arrives as 0.0; everything else must be bit-exact.
                    if b.value == 0.0 {
                        prop_assert_eq!(a.1, 0.0);
                    } else {
                        prop_assert_eq!(a.1.to_bits(), b.value.to_bits());
                    }
                }
            }
        }

        #[test]
        fn garbage_is_an_error_not_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_write_request(&bytes);
        }
    }

    #[test]
    fn errors_name_the_offset_and_problem() {
        let e = decode_write_request(&[0x0a, 0x05, 0x0a]).unwrap_err();
        assert!(e.to_string().contains("runs past the end"), "{e}");
        // A label name with invalid UTF-8.
        let label = [0x0a, 0x02, 0xff, 0xfe];
        let series = [&[0x0a, label.len() as u8][..], &label].concat();
        let req = [&[0x0a, series.len() as u8][..], &series].concat();
        let e = decode_write_request(&req).unwrap_err();
        assert!(e.to_string().contains("label name is not valid UTF-8"), "{e}");
        assert_eq!(e.offset, 6);
    }
}
