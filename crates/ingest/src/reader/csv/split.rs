//! Cutting a CSV file into chunks of whole records, so chunks can be parsed on several threads.
//!
//! A cut may only fall after a record terminator (`\n` or `\r`) that is not inside a quoted
//! field. Quote state follows the csv crate's reader (RFC 4180 with its leniencies): a `"`
//! opens a quoted field only at the start of a field; inside one, `""` is an escaped quote and
//! a lone `"` closes it; any other `"` is literal text. Chunks start at a record boundary, so
//! each chunk is scanned from a known state; a chunk without any `"` needs no scan at all.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// The offset just after the last record terminator of `buf` that is outside quotes, given
/// that `buf` starts at the start of a record. `None` when no record ends inside `buf`.
pub fn last_boundary(buf: &[u8], delimiter: u8) -> Option<usize> {
    if memchr::memchr(b'"', buf).is_none() {
        return memchr::memrchr2(b'\n', b'\r', buf).map(|i| i + 1);
    }
    let mut last = None;
    let mut at = 0;
    loop {
        // Outside quotes: the next terminator or quote.
        let Some(offset) = memchr::memchr3(b'"', b'\n', b'\r', &buf[at..]) else {
            return last;
        };
        let i = at + offset;
        if buf[i] != b'"' {
            last = Some(i + 1);
            at = i + 1;
            continue;
        }
        let field_start = i == 0 || matches!(buf[i - 1], b'\n' | b'\r') || buf[i - 1] == delimiter;
        if !field_start {
            at = i + 1;
            continue;
        }
        // Inside a quoted field: skip escaped quotes until the closing one.
        let mut q = i + 1;
        loop {
            let Some(offset) = memchr::memchr(b'"', &buf[q..]) else {
                return last;
            };
            let close = q + offset;
            if buf.get(close + 1) == Some(&b'"') {
                q = close + 2;
                continue;
            }
            if close + 1 == buf.len() {
                // Cannot tell a closing quote from the first half of `""` yet.
                return last;
            }
            at = close + 1;
            break;
        }
    }
}

/// Reads a file from an offset in chunks of about `target` bytes that each end at a record
/// boundary (the last chunk ends at the end of the file).
pub struct Splitter<'a> {
    file: &'a File,
    offset: u64,
    target: usize,
    delimiter: u8,
    carry: Vec<u8>,
    done: bool,
}

/// One chunk of whole records.
pub struct Chunk {
    /// The chunk's bytes.
    pub bytes: Vec<u8>,
}

impl<'a> Splitter<'a> {
    /// Chunks of `file` from byte `offset`, which must be the start of a record.
    pub fn new(file: &'a File, offset: u64, target: usize, delimiter: u8) -> Splitter<'a> {
        Splitter {
            file,
            offset,
            target: target.max(1),
            delimiter,
            carry: Vec::new(),
            done: false,
        }
    }

    /// The file offset read up to.
    pub fn position(&self) -> u64 {
        self.offset
    }

    /// The next chunk, or `None` at the end of the file. The chunk's bytes go into `bytes`
    /// (its contents are dropped), so buffers can be reused.
    pub fn next_chunk(&mut self, mut bytes: Vec<u8>) -> io::Result<Option<Chunk>> {
        if self.done {
            return Ok(None);
        }
        bytes.clear();
        bytes.extend_from_slice(&self.carry);
        self.carry.clear();
        loop {
            let eof = self.fill(&mut bytes)?;
            if eof {
                self.done = true;
                return Ok((!bytes.is_empty()).then_some(Chunk { bytes }));
            }
            // The quote state at a boundary depends on everything before it: scan it all.
            if let Some(cut) = last_boundary(&bytes, self.delimiter) {
                self.carry.extend_from_slice(&bytes[cut..]);
                bytes.truncate(cut);
                return Ok(Some(Chunk { bytes }));
            }
        }
    }

    /// Appends up to `target` bytes from the file; true at the end of the file.
    fn fill(&mut self, bytes: &mut Vec<u8>) -> io::Result<bool> {
        let want = self.target;
        let old = bytes.len();
        bytes.resize(old + want, 0);
        let mut filled = 0;
        while filled < want {
            match self
                .file
                .read_at(&mut bytes[old + filled..], self.offset + filled as u64)
            {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        bytes.truncate(old + filled);
        self.offset += filled as u64;
        Ok(filled == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records as the csv crate reads them.
    fn records(bytes: &[u8]) -> Vec<Vec<Vec<u8>>> {
        let mut reader = ::csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(bytes);
        reader
            .byte_records()
            .map(|r| r.expect("record").iter().map(<[u8]>::to_vec).collect())
            .collect()
    }

    #[test]
    fn cuts_after_the_last_terminator_outside_quotes() {
        assert_eq!(last_boundary(b"a,b\nc,d\ne", b','), Some(8));
        assert_eq!(last_boundary(b"a,b\r\nc", b','), Some(5));
        assert_eq!(last_boundary(b"abc", b','), None);
        assert_eq!(last_boundary(b"a,\"x\ny\"", b','), None);
        assert_eq!(last_boundary(b"a\n\"x\ny\",z\nq", b','), Some(10));
        // An escaped quote does not close the field.
        assert_eq!(last_boundary(b"\"a\"\"\nb\"\nc", b','), Some(8));
        // A quote inside an unquoted field is text.
        assert_eq!(last_boundary(b"ab\"c\nd\"e\n", b','), Some(9));
        // A quote at the very end may be the first half of `""`.
        assert_eq!(last_boundary(b"x\n\"a\n\"", b','), Some(2));
        assert_eq!(last_boundary(b"x;\"a\n\";y\n", b';'), Some(9));
    }

    /// Random text over the characters that matter, cut by a splitter with tiny chunks, must
    /// give the same records as the csv crate reading it whole.
    #[test]
    fn chunks_hold_exactly_the_records_of_the_whole_file() {
        let alphabet = b"a,\"\n\r ";
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let dir = tempfile::tempdir().expect("dir");
        for case in 0..400 {
            let len = 1 + case % 60;
            let text: Vec<u8> = (0..len)
                .map(|_| {
                    state = state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    alphabet[(state >> 33) as usize % alphabet.len()]
                })
                .collect();
            let path = dir.path().join("f.csv");
            std::fs::write(&path, &text).expect("write");
            let file = File::open(&path).expect("open");
            for target in [1, 2, 3, 7, 64] {
                let mut splitter = Splitter::new(&file, 0, target, b',');
                let mut joined = Vec::new();
                let mut pieces = Vec::new();
                while let Some(chunk) = splitter.next_chunk(Vec::new()).expect("read") {
                    assert!(!chunk.bytes.is_empty());
                    joined.extend_from_slice(&chunk.bytes);
                    pieces.extend(records(&chunk.bytes));
                }
                assert_eq!(joined, text, "chunks cover the file");
                assert_eq!(
                    pieces,
                    records(&text),
                    "{:?} in chunks of {target}",
                    String::from_utf8_lossy(&text)
                );
            }
        }
    }
}
