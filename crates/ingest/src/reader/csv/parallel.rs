//! Parsing a CSV file's chunks on worker threads. The calling thread cuts the file into chunks
//! and hands them to the workers through a bounded queue; the workers' results come back in
//! any order and are handed on to the [`Output`] in file order, with the bad rows' line numbers
//! made absolute. At most a few chunks per worker are in memory at once, and their buffers
//! are reused (fresh memory costs a page fault per 4 KiB).

use std::collections::BTreeMap;
use std::fs::File;
use std::sync::Mutex;
use std::sync::mpsc::{self, Receiver, SyncSender};

use dataflow_core::config::SourceConfig;

use super::split::{Chunk, Splitter};
use super::{Layout, Parsed, parse_chunk};
use crate::error::{Error, Result};
use crate::reader::Output;

type Done = (u64, Result<Parsed>);

/// Reads the records of `file` after its header into `out`, parsing on `threads` threads.
pub(super) fn run(
    file: &File,
    layout: &Layout,
    source: &SourceConfig,
    out: &mut Output<'_>,
    chunk_bytes: usize,
    threads: usize,
    bad_file: &impl Fn(String) -> Error,
) -> Result<()> {
    let threads = threads.max(1);
    let (work_tx, work_rx) = mpsc::sync_channel::<(u64, Chunk)>(threads);
    let work_rx = Mutex::new(work_rx);
    let (done_tx, done_rx) = mpsc::channel::<Done>();
    let (spare_tx, spare_rx) = mpsc::channel::<Vec<u8>>();
    let lineage = out.lineage().clone();
    let batch_rows = out.batch_rows();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let done_tx = done_tx.clone();
            let spare_tx = spare_tx.clone();
            let (work_rx, lineage) = (&work_rx, &lineage);
            let mut raw = out.new_raw_builder(source);
            scope.spawn(move || {
                while let Some((seq, chunk)) = next(work_rx) {
                    let parsed =
                        parse_chunk(&chunk.bytes, layout, source, &mut raw, lineage, batch_rows);
                    let _ = spare_tx.send(chunk.bytes);
                    if done_tx.send((seq, parsed)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        drop(spare_tx);
        let mut splitter = Splitter::new(file, layout.data_start, chunk_bytes, layout.delimiter);
        let mut order = InOrder {
            done_rx,
            pending: BTreeMap::new(),
            next: 0,
            line: layout.first_line,
        };
        // Dropping the queue's sender on any error lets the workers finish and exit.
        let result = feed(
            &mut splitter,
            (work_tx, &spare_rx),
            &mut order,
            out,
            threads,
            bad_file,
        );
        result.and_then(|sent| order.drain(sent, out))
    })
}

/// Cuts chunks and queues them, handing on finished ones as they come; returns the number
/// of chunks queued.
fn feed(
    splitter: &mut Splitter<'_>,
    (work_tx, spare_rx): (SyncSender<(u64, Chunk)>, &Receiver<Vec<u8>>),
    order: &mut InOrder,
    out: &mut Output<'_>,
    threads: usize,
    bad_file: &impl Fn(String) -> Error,
) -> Result<u64> {
    let in_flight = 2 * threads as u64 + 1;
    let mut sent = 0u64;
    while let Some(chunk) = splitter
        .next_chunk(spare_rx.try_recv().unwrap_or_default())
        .map_err(|e| {
            bad_file(format!(
                "unreadable after byte {}: {e}",
                splitter.position()
            ))
        })?
    {
        while sent - order.next >= in_flight {
            order.wait(out)?;
        }
        work_tx
            .send((sent, chunk))
            .map_err(|_| Error::Internal("the CSV parsing threads stopped".into()))?;
        sent += 1;
        order.poll(out)?;
    }
    Ok(sent)
}

/// The next chunk for a worker; `None` once the queue is closed.
fn next(work_rx: &Mutex<Receiver<(u64, Chunk)>>) -> Option<(u64, Chunk)> {
    work_rx.lock().ok()?.recv().ok()
}

/// Parsed chunks waiting for their turn.
struct InOrder {
    done_rx: Receiver<Done>,
    pending: BTreeMap<u64, Result<Parsed>>,
    /// The next chunk to hand on.
    next: u64,
    /// Line number of the first byte of that chunk.
    line: u64,
}

impl InOrder {
    /// Hands on whatever has finished, without waiting.
    fn poll(&mut self, out: &mut Output<'_>) -> Result<()> {
        while let Ok((seq, parsed)) = self.done_rx.try_recv() {
            self.pending.insert(seq, parsed);
        }
        self.emit(out)
    }

    /// Waits for one more chunk to finish, then hands on what can go.
    fn wait(&mut self, out: &mut Output<'_>) -> Result<()> {
        let (seq, parsed) = self
            .done_rx
            .recv()
            .map_err(|_| Error::Internal("the CSV parsing threads stopped".into()))?;
        self.pending.insert(seq, parsed);
        self.emit(out)
    }

    /// Waits until all `sent` chunks are handed on.
    fn drain(&mut self, sent: u64, out: &mut Output<'_>) -> Result<()> {
        self.emit(out)?;
        while self.next < sent {
            self.wait(out)?;
        }
        Ok(())
    }

    fn emit(&mut self, out: &mut Output<'_>) -> Result<()> {
        while let Some(parsed) = self.pending.remove(&self.next) {
            let parsed = parsed?;
            for mut bad in parsed.bad {
                bad.line_number += self.line - 1;
                out.bad(bad)?;
            }
            for batch in parsed.batches {
                out.rows(batch)?;
            }
            self.line += parsed.newlines;
            self.next += 1;
        }
        Ok(())
    }
}
