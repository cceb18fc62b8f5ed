//! Reading the CSV records in file order, on a second thread for large
//! exports.

use super::IngestError;

/// Exports at least this large are read with CSV parsing on a second thread.
pub(super) const THREADED_MIN_BYTES: usize = 4 << 20;

/// Records handed between the CSV thread and the row thread at a time.
pub(super) const BATCH: usize = 1024;

struct Batch {
    records: Vec<csv::ByteRecord>,
    len: usize,
}

/// Feeds every record to `process` in file order. When `threaded`, the CSV
/// structure is parsed on a second thread while this one types the fields;
/// batches of records are recycled, so neither side allocates per row.
pub(super) fn read_records(
    rdr: &mut csv::Reader<&[u8]>,
    threaded: bool,
    process: &mut dyn FnMut(&csv::ByteRecord),
) -> Result<(), csv::Error> {
    if !threaded {
        let mut rec = csv::ByteRecord::new();
        while rdr.read_byte_record(&mut rec)? {
            process(&rec);
        }
        return Ok(());
    }
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<Result<Batch, csv::Error>>(4);
    let (empty_tx, empty_rx) = std::sync::mpsc::channel::<Batch>();
    std::thread::scope(|s| {
        s.spawn(move || {
            loop {
                let mut batch = empty_rx.try_recv().unwrap_or_else(|_| Batch {
                    records: Vec::new(),
                    len: 0,
                });
                batch.len = 0;
                let mut done = false;
                while batch.len < BATCH {
                    if batch.records.len() == batch.len {
                        batch.records.push(csv::ByteRecord::new());
                    }
                    #[allow(
                        clippy::indexing_slicing,
                        reason = "a record at `len` exists: one was pushed just above when there was none"
                    )]
                    let record = &mut batch.records[batch.len];
                    match rdr.read_byte_record(record) {
                        Ok(true) => batch.len += 1,
                        Ok(false) => {
                            done = true;
                            break;
                        }
                        Err(e) => {
                            let _ = full_tx.send(Err(e));
                            return;
                        }
                    }
                }
                // A closed channel means the reader stopped: nothing more to do.
                if full_tx.send(Ok(batch)).is_err() || done {
                    return;
                }
            }
        });
        // Owned here, so it is dropped (and the CSV thread released) before the scope joins.
        let full_rx = full_rx;
        for batch in full_rx.iter() {
            let batch = batch?;
            for rec in batch.records.iter().take(batch.len) {
                process(rec);
            }
            let _ = empty_tx.send(batch);
        }
        Ok(())
    })
}

/// The error for a file the CSV reader cannot read, at the line it stopped.
pub(super) fn unreadable(origin: &str, e: &csv::Error) -> IngestError {
    let line = e.position().map_or(0, csv::Position::line);
    IngestError::Csv {
        origin: origin.into(),
        line,
        message: "the file is not readable as CSV".into(),
    }
}
