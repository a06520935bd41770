//! A log file rotated by size, the way logrotate names them: when the next line would take
//! `FILE` past its limit, `FILE.{N-1}` becomes `FILE.N` (and so on down), `FILE` becomes
//! `FILE.1`, and a new `FILE` starts; at most `keep` rotated files stay.
//!
//! Each line arrives in one `write` (the fmt layer formats a whole line first), so a line is
//! never split between two files. The file is opened for appending, and before each line the
//! writer checks that `FILE` is still the file it holds: several processes given the same file
//! (a scheduler and the commands it starts, through `DATAFLOW_LOG_FILE`) append whole lines,
//! and one that finds the file rotated by another reopens it instead of rotating again.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The writer.
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
    file: File,
}

impl RotatingFile {
    /// Opens (or creates) `path` for appending; rotates at `max_bytes` (at least one line per
    /// file), keeping `keep` rotated files.
    pub fn open(path: &Path, max_bytes: u64, keep: u32) -> io::Result<RotatingFile> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        Ok(RotatingFile {
            path: path.to_path_buf(),
            max_bytes,
            keep,
            file: append(path)?,
        })
    }

    fn rotated(&self, n: u32) -> PathBuf {
        let mut name = self.path.clone().into_os_string();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    /// The size of `FILE`, after reopening it if another process rotated it away.
    fn current_size(&mut self) -> io::Result<u64> {
        let held = self.file.metadata()?;
        match std::fs::metadata(&self.path) {
            Ok(now) if now.ino() == held.ino() && now.dev() == held.dev() => Ok(held.len()),
            _ => {
                self.file = append(&self.path)?;
                Ok(self.file.metadata()?.len())
            }
        }
    }

    fn rotate(&mut self) -> io::Result<()> {
        if self.keep == 0 {
            self.file = File::create(&self.path)?;
            return Ok(());
        }
        let _ = std::fs::remove_file(self.rotated(self.keep));
        for n in (1..self.keep).rev() {
            let from = self.rotated(n);
            if from.exists() {
                std::fs::rename(&from, self.rotated(n + 1))?;
            }
        }
        std::fs::rename(&self.path, self.rotated(1))?;
        self.file = append(&self.path)?;
        Ok(())
    }
}

fn append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let size = self.current_size()?;
        if size > 0 && size + buf.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: PathBuf) -> String {
        std::fs::read_to_string(path).unwrap_or_default()
    }

    #[test]
    fn rotates_by_size_and_keeps_the_newest_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("logs/dataflow.log");
        let mut file = RotatingFile::open(&path, 25, 2).expect("open");
        for i in 0..7 {
            // 12 bytes a line: two lines fit in 25 bytes, a third does not.
            writeln!(file, "line {i:05}.").expect("write");
        }
        assert_eq!(read(path.clone()), "line 00006.\n");
        assert_eq!(read(file.rotated(1)), "line 00004.\nline 00005.\n");
        assert_eq!(read(file.rotated(2)), "line 00002.\nline 00003.\n");
        assert!(!file.rotated(3).exists(), "only two rotated files are kept");
    }

    #[test]
    fn a_line_longer_than_the_limit_gets_a_file_of_its_own() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("x.log");
        let mut file = RotatingFile::open(&path, 4, 1).expect("open");
        file.write_all(b"0123456789\n").expect("write");
        file.write_all(b"abcdefghij\n").expect("write");
        assert_eq!(read(path.clone()), "abcdefghij\n");
        assert_eq!(read(file.rotated(1)), "0123456789\n");
    }

    #[test]
    fn a_writer_follows_a_rotation_done_by_another() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("shared.log");
        let mut a = RotatingFile::open(&path, 28, 3).expect("open");
        let mut b = RotatingFile::open(&path, 28, 3).expect("open");
        a.write_all(b"a1 a1 a1 a1 a1 a1 a1 a1 a1\n").expect("write");
        a.write_all(b"a2\n").expect("write");
        // `a` rotated the file away; `b` appends to the new one rather than the old.
        b.write_all(b"b1\n").expect("write");
        assert_eq!(read(path.clone()), "a2\nb1\n");
        assert_eq!(read(a.rotated(1)), "a1 a1 a1 a1 a1 a1 a1 a1 a1\n");
        assert!(!a.rotated(2).exists());
    }
}
