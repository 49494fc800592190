//! The write-ahead log: checksummed records in numbered segment files, plus
//! checkpoints that let old segments go once the head has moved on.
//!
//! Record frame: `len: u32 LE | crc32c: u32 LE | kind: u8 | payload`, where
//! `len` counts kind and payload and the CRC covers them too. A torn or
//! corrupt record ends the log: the tail is cut off with a warning.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::chunk::Encoding;
use crate::encoding::{put_bytes, put_uvarint, put_varint, Decoder};
use crate::error::{io_err, Error, Result};

const KIND_SERIES: u8 = 1;
const KIND_SAMPLES: u8 = 2;
const KIND_CHUNK: u8 = 3;
/// Largest record we will believe when reading; guards allocations.
const MAX_RECORD: usize = 256 << 20;
const CHECKPOINT_PREFIX: &str = "checkpoint.";

/// One decoded WAL record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Record {
    /// New series: (ref, label pairs).
    Series(Vec<(u32, Vec<(String, String)>)>),
    /// Samples: (ref, t, v).
    Samples(Vec<(u32, i64, f64)>),
    /// A compressed head chunk, written only into checkpoints.
    Chunk {
        series: u32,
        encoding: Encoding,
        min_t: i64,
        max_t: i64,
        data: Vec<u8>,
    },
}

pub(crate) fn encode_series<'a>(
    buf: &mut Vec<u8>,
    entries: impl ExactSizeIterator<Item = (u32, Vec<(&'a str, &'a str)>)>,
) {
    buf.push(KIND_SERIES);
    put_uvarint(buf, entries.len() as u64);
    for (r, pairs) in entries {
        put_uvarint(buf, u64::from(r));
        put_uvarint(buf, pairs.len() as u64);
        for (n, v) in pairs {
            put_bytes(buf, n.as_bytes());
            put_bytes(buf, v.as_bytes());
        }
    }
}

pub(crate) fn encode_samples(buf: &mut Vec<u8>, samples: &[(u32, i64, f64)]) {
    buf.push(KIND_SAMPLES);
    put_uvarint(buf, samples.len() as u64);
    let base = samples.first().map_or(0, |s| s.1);
    put_varint(buf, base);
    for &(r, t, v) in samples {
        put_uvarint(buf, u64::from(r));
        put_varint(buf, t.wrapping_sub(base));
        buf.extend_from_slice(&v.to_bits().to_le_bytes());
    }
}

pub(crate) fn encode_chunk(buf: &mut Vec<u8>, series: u32, encoding: Encoding, min_t: i64, max_t: i64, data: &[u8]) {
    buf.push(KIND_CHUNK);
    put_uvarint(buf, u64::from(series));
    buf.push(encoding.to_byte());
    put_varint(buf, min_t);
    put_varint(buf, max_t);
    put_bytes(buf, data);
}

/// Decodes the body (kind + payload) of one record.
pub(crate) fn decode_record(body: &[u8]) -> Option<Record> {
    let mut d = Decoder::new(body);
    let rec = match d.u8()? {
        KIND_SERIES => {
            let n = d.len(d.remaining())?;
            let mut out = Vec::with_capacity(n.min(4096));
            for _ in 0..n {
                let r = u32::try_from(d.uvarint()?).ok()?;
                let k = d.len(d.remaining())?;
                let mut pairs = Vec::with_capacity(k.min(64));
                for _ in 0..k {
                    pairs.push((d.str()?.to_string(), d.str()?.to_string()));
                }
                out.push((r, pairs));
            }
            Record::Series(out)
        }
        KIND_SAMPLES => {
            let n = d.len(d.remaining())?;
            let base = d.varint()?;
            let mut out = Vec::with_capacity(n.min(1 << 16));
            for _ in 0..n {
                let r = u32::try_from(d.uvarint()?).ok()?;
                let t = base.wrapping_add(d.varint()?);
                let v = f64::from_bits(d.u64_le()?);
                out.push((r, t, v));
            }
            Record::Samples(out)
        }
        KIND_CHUNK => Record::Chunk {
            series: u32::try_from(d.uvarint()?).ok()?,
            encoding: Encoding::from_byte(d.u8()?)?,
            min_t: d.varint()?,
            max_t: d.varint()?,
            data: d.len_bytes()?.to_vec(),
        },
        _ => return None,
    };
    (d.remaining() == 0).then_some(rec)
}

/// Appends one framed record holding `body` to `out`.
fn frame(out: &mut Vec<u8>, body: &[u8]) {
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(body).to_le_bytes());
    out.extend_from_slice(body);
}

/// Splits a file's bytes into record bodies. Returns the bodies and the
/// length of the valid prefix; anything after it is torn or corrupt.
pub(crate) fn split_records(bytes: &[u8]) -> (Vec<&[u8]>, usize) {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let Some(header) = bytes.get(pos..pos + 8) else { break };
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if len == 0 || len > MAX_RECORD {
            break;
        }
        let Some(body) = bytes.get(pos + 8..pos + 8 + len) else {
            break;
        };
        if crc32c::crc32c(body) != crc {
            break;
        }
        out.push(body);
        pos += 8 + len;
    }
    (out, pos)
}

fn segment_name(index: u64) -> String {
    format!("{index:08}")
}

/// Lists `(index, path)` of segments, ascending, and the newest checkpoint.
/// A numbered WAL file: segment or checkpoint index and its path.
type Numbered = (u64, PathBuf);

fn scan(dir: &Path) -> Result<(Vec<Numbered>, Option<Numbered>)> {
    let mut segments = Vec::new();
    let mut checkpoint: Option<Numbered> = None;
    for entry in fs::read_dir(dir).map_err(io_err("read WAL directory", dir))? {
        let entry = entry.map_err(io_err("read WAL directory", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(rest) = name.strip_prefix(CHECKPOINT_PREFIX) {
            if let Ok(i) = rest.parse::<u64>() {
                if checkpoint.as_ref().is_none_or(|c| c.0 < i) {
                    checkpoint = Some((i, entry.path()));
                }
            }
        } else if let Ok(i) = name.parse::<u64>() {
            segments.push((i, entry.path()));
        }
    }
    segments.sort();
    Ok((segments, checkpoint))
}

/// What replay found, for logs and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReplayReport {
    /// Records read.
    pub records: usize,
    /// Bytes cut from a torn or corrupt tail.
    pub truncated_bytes: u64,
    /// Segments removed because they followed a corrupt one.
    pub dropped_segments: usize,
}

/// Reads the checkpoint and every later segment in order, handing each
/// record to `apply`. Torn tails are truncated, segments after a corrupt
/// one are removed, each with a logged warning.
pub(crate) fn replay(dir: &Path, mut apply: impl FnMut(Record)) -> Result<(ReplayReport, u64)> {
    fs::create_dir_all(dir).map_err(io_err("create WAL directory", dir))?;
    let (segments, checkpoint) = scan(dir)?;
    let mut report = ReplayReport::default();
    let mut after = 0;
    if let Some((index, path)) = &checkpoint {
        after = *index;
        let bytes = fs::read(path).map_err(io_err("read checkpoint", path))?;
        let (bodies, valid) = split_records(&bytes);
        if valid != bytes.len() {
            // Checkpoints are renamed into place only when complete, so a
            // bad one is damage from outside; refuse rather than guess.
            return Err(Error::Corrupt {
                path: path.clone(),
                reason: format!("invalid record at byte {valid}"),
            });
        }
        for body in bodies {
            let rec = decode_record(body).ok_or_else(|| Error::Corrupt {
                path: path.clone(),
                reason: "undecodable record".into(),
            })?;
            report.records += 1;
            apply(rec);
        }
    }
    let live: Vec<&Numbered> = segments.iter().filter(|(i, _)| *i > after).collect();
    let mut last_index = after;
    let mut corrupt_from: Option<usize> = None;
    for (pos, (index, path)) in live.iter().enumerate() {
        last_index = *index;
        let mut bytes = Vec::new();
        File::open(path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(io_err("read WAL segment", path))?;
        let (bodies, mut valid) = split_records(&bytes);
        for (n, body) in bodies.iter().enumerate() {
            match decode_record(body) {
                Some(rec) => {
                    report.records += 1;
                    apply(rec);
                }
                None => {
                    // A record with a good checksum that does not decode:
                    // treat it as the end of the log like a bad checksum.
                    valid = bodies[..n].iter().map(|b| b.len() + 8).sum();
                    break;
                }
            }
        }
        if valid != bytes.len() {
            let cut = (bytes.len() - valid) as u64;
            tracing::warn!(segment = %path.display(), offset = valid, bytes = cut, "WAL tail is torn or corrupt; truncating it");
            let f = OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(io_err("open WAL segment", path))?;
            f.set_len(valid as u64).map_err(io_err("truncate WAL segment", path))?;
            f.sync_all().map_err(io_err("sync WAL segment", path))?;
            report.truncated_bytes += cut;
            corrupt_from = Some(pos + 1);
            break;
        }
    }
    if let Some(from) = corrupt_from {
        for (_, path) in &live[from..] {
            tracing::warn!(segment = %path.display(), "removing WAL segment that follows a corrupt one");
            fs::remove_file(path).map_err(io_err("remove WAL segment", path))?;
            report.dropped_segments += 1;
        }
    }
    Ok((report, last_index))
}

/// The appending side of the log.
#[derive(Debug)]
pub(crate) struct Wal {
    dir: PathBuf,
    file: File,
    index: u64,
    size: u64,
    max_segment: u64,
    pending: Vec<u8>,
}

impl Wal {
    /// Starts a fresh segment after `last_index`.
    pub(crate) fn create(dir: &Path, last_index: u64, max_segment: u64) -> Result<Self> {
        let index = last_index + 1;
        let file = open_segment(dir, index)?;
        sync_dir(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            file,
            index,
            size: 0,
            max_segment,
            pending: Vec::new(),
        })
    }

    /// Buffers a series record.
    pub(crate) fn log_series<'a>(&mut self, entries: impl ExactSizeIterator<Item = (u32, Vec<(&'a str, &'a str)>)>) {
        if entries.len() == 0 {
            return;
        }
        let start = self.begin_record();
        encode_series(&mut self.pending, entries);
        self.end_record(start);
    }

    /// Buffers a samples record.
    pub(crate) fn log_samples(&mut self, samples: &[(u32, i64, f64)]) {
        if samples.is_empty() {
            return;
        }
        let start = self.begin_record();
        encode_samples(&mut self.pending, samples);
        self.end_record(start);
    }

    /// Reserves a frame header; the body is encoded in place after it.
    fn begin_record(&mut self) -> usize {
        let start = self.pending.len();
        self.pending.extend_from_slice(&[0; 8]);
        start
    }

    fn end_record(&mut self, start: usize) {
        let body = &self.pending[start + 8..];
        let (len, crc) = ((body.len() as u32).to_le_bytes(), crc32c::crc32c(body).to_le_bytes());
        self.pending[start..start + 4].copy_from_slice(&len);
        self.pending[start + 4..start + 8].copy_from_slice(&crc);
    }

    /// Drops buffered records that were not committed.
    pub(crate) fn discard(&mut self) {
        self.pending.clear();
    }

    /// Writes the buffered records to the segment file (one write call), so
    /// they survive the process being killed. With `fsync`, also forces
    /// them to the device.
    pub(crate) fn commit(&mut self, fsync: bool) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        if self.size > 0 && self.size + self.pending.len() as u64 > self.max_segment {
            self.cut()?;
        }
        let path = self.dir.join(segment_name(self.index));
        let written = self.file.write_all(&self.pending);
        if let Err(e) = written {
            // A short write leaves a torn record; cut it off now so later
            // records are not appended behind garbage.
            let _ = self.file.set_len(self.size);
            self.pending.clear();
            return Err(io_err("write WAL segment", path)(e));
        }
        self.size += self.pending.len() as u64;
        self.pending.clear();
        if fsync {
            self.file.sync_data().map_err(io_err("sync WAL segment", path))?;
        }
        Ok(())
    }

    /// A handle on the current segment for syncing outside the lock.
    pub(crate) fn sync_handle(&self) -> Result<File> {
        self.file
            .try_clone()
            .map_err(io_err("clone WAL handle", self.dir.join(segment_name(self.index))))
    }

    /// Closes the current segment and starts the next; returns the closed
    /// segment's index.
    pub(crate) fn cut(&mut self) -> Result<u64> {
        let path = self.dir.join(segment_name(self.index));
        self.file.sync_data().map_err(io_err("sync WAL segment", &path))?;
        let closed = self.index;
        self.index += 1;
        self.file = open_segment(&self.dir, self.index)?;
        self.size = 0;
        sync_dir(&self.dir)?;
        Ok(closed)
    }
}

fn open_segment(dir: &Path, index: u64) -> Result<File> {
    let path = dir.join(segment_name(index));
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io_err("create WAL segment", path))
}

pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(io_err("sync directory", dir))
}

/// Writes `checkpoint.<upto>` from already-framed record bodies, then removes
/// segments up to `upto` and older checkpoints.
pub(crate) fn write_checkpoint(dir: &Path, upto: u64, bodies: impl Iterator<Item = Vec<u8>>) -> Result<u64> {
    let name = format!("{CHECKPOINT_PREFIX}{upto:08}");
    let tmp = dir.join(format!("{name}.tmp"));
    let path = dir.join(&name);
    let mut out = std::io::BufWriter::new(File::create(&tmp).map_err(io_err("create checkpoint", &tmp))?);
    let mut framed = Vec::new();
    let mut size = 0u64;
    for body in bodies {
        framed.clear();
        frame(&mut framed, &body);
        size += framed.len() as u64;
        out.write_all(&framed).map_err(io_err("write checkpoint", &tmp))?;
    }
    let file = out
        .into_inner()
        .map_err(|e| io_err("write checkpoint", &tmp)(e.into_error()))?;
    file.sync_all().map_err(io_err("sync checkpoint", &tmp))?;
    fs::rename(&tmp, &path).map_err(io_err("rename checkpoint", &path))?;
    sync_dir(dir)?;
    let (segments, _) = scan(dir)?;
    for (i, p) in segments.into_iter().filter(|(i, _)| *i <= upto) {
        let _ = i;
        fs::remove_file(&p).map_err(io_err("remove WAL segment", &p))?;
    }
    for entry in fs::read_dir(dir).map_err(io_err("read WAL directory", dir))?.flatten() {
        let n = entry.file_name();
        let Some(n) = n.to_str() else { continue };
        if let Some(rest) = n.strip_prefix(CHECKPOINT_PREFIX) {
            let older = rest.parse::<u64>().is_ok_and(|i| i < upto);
            if older || rest.ends_with(".tmp") {
                let p = entry.path();
                fs::remove_file(&p).map_err(io_err("remove old checkpoint", &p))?;
            }
        }
    }
    Ok(size)
}

/// Bytes the WAL directory holds.
pub(crate) fn dir_size(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .map(|rd| rd.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn collect(dir: &Path) -> (Vec<Record>, ReplayReport) {
        let mut recs = Vec::new();
        let (report, _) = replay(dir, |r| recs.push(r)).unwrap();
        (recs, report)
    }

    #[test]
    fn records_replay_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::create(dir.path(), 0, 1 << 20).unwrap();
        wal.log_series([(0u32, vec![("__name__", "up")])].into_iter());
        wal.log_samples(&[(0, 1000, 1.0), (0, 2000, f64::from_bits(0x7ff0_0000_0000_0002))]);
        wal.commit(true).unwrap();
        drop(wal);
        let (recs, report) = collect(dir.path());
        assert_eq!(report.records, 2);
        assert_eq!(
            recs[0],
            Record::Series(vec![(0, vec![("__name__".into(), "up".into())])])
        );
        let Record::Samples(s) = &recs[1] else {
            panic!("{recs:?}")
        };
        assert_eq!(s[1].2.to_bits(), 0x7ff0_0000_0000_0002);
    }

    #[test]
    fn torn_tail_is_truncated_and_later_appends_survive() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::create(dir.path(), 0, 1 << 20).unwrap();
        for i in 0..10 {
            wal.log_samples(&[(1, i * 1000, i as f64)]);
            wal.commit(false).unwrap();
        }
        drop(wal);
        let seg = dir.path().join(segment_name(1));
        let len = fs::metadata(&seg).unwrap().len();
        // Tear the last record in half, as a crash mid-write would.
        OpenOptions::new()
            .write(true)
            .open(&seg)
            .unwrap()
            .set_len(len - 7)
            .unwrap();
        let (recs, report) = collect(dir.path());
        assert_eq!(recs.len(), 9);
        assert!(report.truncated_bytes > 0);
        // The file is now clean: a second replay finds nothing to cut.
        let (recs2, report2) = collect(dir.path());
        assert_eq!(recs2.len(), 9);
        assert_eq!(report2.truncated_bytes, 0);
    }

    #[test]
    fn corrupt_middle_drops_the_rest_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::create(dir.path(), 0, 1 << 20).unwrap();
        for i in 0..5 {
            wal.log_samples(&[(1, i, 1.0)]);
            wal.commit(false).unwrap();
        }
        wal.cut().unwrap();
        wal.log_samples(&[(1, 99, 1.0)]);
        wal.commit(false).unwrap();
        drop(wal);
        let seg = dir.path().join(segment_name(1));
        let mut bytes = fs::read(&seg).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        fs::write(&seg, &bytes).unwrap();
        let (recs, report) = collect(dir.path());
        assert!(recs.len() < 5);
        assert_eq!(report.dropped_segments, 1);
    }

    #[test]
    fn checkpoint_replaces_old_segments() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::create(dir.path(), 0, 1 << 20).unwrap();
        wal.log_samples(&[(1, 1, 1.0)]);
        wal.commit(false).unwrap();
        let closed = wal.cut().unwrap();
        let mut body = Vec::new();
        encode_chunk(&mut body, 1, Encoding::Xor, 5, 6, &[1, 2, 3]);
        write_checkpoint(dir.path(), closed, std::iter::once(body)).unwrap();
        wal.log_samples(&[(1, 7, 2.0)]);
        wal.commit(false).unwrap();
        drop(wal);
        let (recs, _) = collect(dir.path());
        assert_eq!(recs.len(), 2);
        assert!(matches!(
            recs[0],
            Record::Chunk {
                series: 1,
                min_t: 5,
                ..
            }
        ));
        assert!(!dir.path().join(segment_name(1)).exists());
    }

    proptest! {
        #[test]
        fn record_bodies_round_trip(samples in proptest::collection::vec((any::<u32>(), any::<i64>(), any::<f64>()), 1..50)) {
            let mut body = Vec::new();
            encode_samples(&mut body, &samples);
            let Some(Record::Samples(back)) = decode_record(&body) else { panic!("no decode") };
            prop_assert_eq!(back.len(), samples.len());
            for (a, b) in back.iter().zip(&samples) {
                prop_assert_eq!((a.0, a.1, a.2.to_bits()), (b.0, b.1, b.2.to_bits()));
            }
        }

        #[test]
        fn garbage_segments_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let (bodies, valid) = split_records(&bytes);
            prop_assert!(valid <= bytes.len());
            for b in bodies { let _ = decode_record(b); }
        }
    }
}
