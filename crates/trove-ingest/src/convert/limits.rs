//! The limits of one conversion: [`ConvertLimits`] (the file's size, the bytes unpacked from
//! it, the time it may take) and how they are enforced. The size is checked before parsing;
//! unpacked bytes and elapsed time are metered by the binary converters through a [`Budget`]
//! (they stop at the first check past either limit); and [`run_with_time_limit`] runs the
//! whole conversion on its own thread so that even a parser stuck inside a third-party crate
//! cannot stall an ingest run: the caller stops waiting at the limit and reports the file.
//!
//! A thread that overran is abandoned, not killed (Rust cannot kill a thread): it keeps its
//! copy of the document and its CPU until the parser returns or reaches its next `Budget`
//! check, and its result is dropped. Our own converters check the budget often, so in practice
//! only a parser stuck inside lopdf or html5ever outlives its limit.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::error::IngestError;

/// Limits on converting one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertLimits {
    /// Largest document, in bytes; 0 means no limit (`ingest.max_file_bytes`).
    pub max_file_bytes: u64,
    /// Largest total of bytes unpacked from one document: the archive members a DOCX, PPTX or
    /// XLSX converter reads, a PDF's decompressed page contents; 0 means no limit
    /// (`ingest.max_unpacked_bytes`). This is what stops zip bombs.
    pub max_unpacked_bytes: u64,
    /// Longest one conversion may take; `None` means no limit (`ingest.convert_timeout_s`).
    pub timeout: Option<Duration>,
}

impl ConvertLimits {
    /// Default largest document: 10 MiB (as `ingest.max_file_bytes`).
    pub const DEFAULT_MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;
    /// Default largest unpacked total: 256 MiB.
    pub const DEFAULT_MAX_UNPACKED_BYTES: u64 = 256 * 1024 * 1024;
    /// Default time limit: 30 seconds.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

    /// No limit at all (tests, trusted callers).
    pub fn unlimited() -> Self {
        ConvertLimits { max_file_bytes: 0, max_unpacked_bytes: 0, timeout: None }
    }

    /// The size check done before any parsing.
    pub(crate) fn check_size(&self, uri: &str, size: usize) -> Result<(), IngestError> {
        let size = size as u64;
        if self.max_file_bytes > 0 && size > self.max_file_bytes {
            return Err(IngestError::TooLarge { uri: uri.to_string(), size, max: self.max_file_bytes });
        }
        Ok(())
    }
}

impl Default for ConvertLimits {
    fn default() -> Self {
        ConvertLimits {
            max_file_bytes: Self::DEFAULT_MAX_FILE_BYTES,
            max_unpacked_bytes: Self::DEFAULT_MAX_UNPACKED_BYTES,
            timeout: Some(Self::DEFAULT_TIMEOUT),
        }
    }
}

/// What one binary conversion may still spend, and the names its errors carry.
#[derive(Debug)]
pub(crate) struct Budget<'a> {
    /// The document's URI, for errors.
    pub(crate) uri: &'a str,
    /// The format's name (`pdf`, `docx`, ...), for errors.
    pub(crate) format: &'static str,
    max_unpacked: u64,
    unpacked: u64,
    /// When the conversion must stop, and the limit that set it.
    deadline: Option<(Instant, Duration)>,
}

impl<'a> Budget<'a> {
    /// A budget starting now.
    pub(crate) fn new(uri: &'a str, format: &'static str, limits: &ConvertLimits) -> Self {
        Budget {
            uri,
            format,
            max_unpacked: limits.max_unpacked_bytes,
            unpacked: 0,
            deadline: limits.timeout.map(|t| (Instant::now() + t, t)),
        }
    }

    /// The error for a document that does not parse.
    pub(crate) fn corrupt(&self, reason: impl std::fmt::Display) -> IngestError {
        IngestError::Corrupt { uri: self.uri.to_string(), format: self.format.to_string(), reason: reason.to_string() }
    }

    /// Bytes that may still be unpacked (`u64::MAX` without a limit).
    pub(crate) fn unpack_remaining(&self) -> u64 {
        if self.max_unpacked == 0 { u64::MAX } else { self.max_unpacked.saturating_sub(self.unpacked) }
    }

    /// Counts `n` more unpacked bytes; an error once the total passes the limit.
    pub(crate) fn unpacked(&mut self, n: u64) -> Result<(), IngestError> {
        self.unpacked = self.unpacked.saturating_add(n);
        if self.max_unpacked > 0 && self.unpacked > self.max_unpacked {
            return Err(IngestError::UnpackedTooLarge { uri: self.uri.to_string(), max: self.max_unpacked });
        }
        Ok(())
    }

    /// An error once the time limit has passed.
    pub(crate) fn check_time(&self) -> Result<(), IngestError> {
        match self.deadline {
            Some((at, limit)) if Instant::now() >= at => {
                Err(IngestError::ConvertTimeout { uri: self.uri.to_string(), limit })
            }
            _ => Ok(()),
        }
    }
}

/// Runs `work` on its own thread and waits at most `limit` for it; past that, a
/// [`IngestError::ConvertTimeout`] naming `uri` (the thread is abandoned, see the module
/// docs). A panic in `work` becomes an [`IngestError::Corrupt`] instead of unwinding into the
/// caller. Without a limit, `work` runs on the caller's thread (panics still caught).
pub(crate) fn run_with_time_limit<T: Send + 'static>(
    uri: &str,
    format: &str,
    limit: Option<Duration>,
    work: impl FnOnce() -> Result<T, IngestError> + Send + 'static,
) -> Result<T, IngestError> {
    let panicked = |format: &str| IngestError::Corrupt {
        uri: uri.to_string(),
        format: format.to_string(),
        reason: "its converter failed (a bug in Trove or a parser it uses; please report it)".into(),
    };
    let Some(limit) = limit else {
        return catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|_| Err(panicked(format)));
    };
    let (tx, rx) = mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new().name("trove-convert".into()).spawn(move || {
        let result = catch_unwind(AssertUnwindSafe(work));
        // The receiver is gone when the caller stopped waiting: the result is dropped.
        let _ = tx.send(result);
    });
    if let Err(e) = spawned {
        return Err(IngestError::io(uri, e));
    }
    match rx.recv_timeout(limit) {
        Ok(Ok(result)) => result,
        Ok(Err(_)) | Err(mpsc::RecvTimeoutError::Disconnected) => Err(panicked(format)),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            tracing::warn!(%uri, limit_s = limit.as_secs_f64(), "conversion passed its time limit; its thread is abandoned");
            Err(IngestError::ConvertTimeout { uri: uri.to_string(), limit })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_job_is_abandoned_at_the_limit() {
        let started = Instant::now();
        let err = run_with_time_limit("slow.pdf", "pdf", Some(Duration::from_millis(100)), || {
            std::thread::sleep(Duration::from_secs(5));
            Ok(())
        })
        .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(3), "waited {:?}", started.elapsed());
        assert!(matches!(err, IngestError::ConvertTimeout { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains("slow.pdf") && msg.contains("ingest.convert_timeout_s") && msg.contains("0.100 s"),
            "{msg}"
        );
    }

    #[test]
    fn results_and_panics_come_back() {
        let limit = Some(Duration::from_secs(10));
        assert_eq!(run_with_time_limit("a", "pdf", limit, || Ok(7)).unwrap(), 7);
        assert_eq!(run_with_time_limit("a", "pdf", None, || Ok(8)).unwrap(), 8);
        for limit in [limit, None] {
            let err = run_with_time_limit::<()>("boom.docx", "docx", limit, || panic!("boom")).unwrap_err();
            assert!(matches!(err, IngestError::Corrupt { .. }), "{err:?}");
            assert!(err.to_string().contains("boom.docx"));
        }
    }

    #[test]
    fn budget_meters_unpacked_bytes_and_time() {
        let limits = ConvertLimits { max_file_bytes: 0, max_unpacked_bytes: 100, timeout: None };
        let mut b = Budget::new("z.xlsx", "xlsx", &limits);
        b.unpacked(60).unwrap();
        assert_eq!(b.unpack_remaining(), 40);
        let err = b.unpacked(41).unwrap_err();
        assert!(err.to_string().contains("ingest.max_unpacked_bytes"), "{err}");
        assert!(b.check_time().is_ok());
        let limits = ConvertLimits { timeout: Some(Duration::ZERO), ..ConvertLimits::unlimited() };
        let b = Budget::new("z.xlsx", "xlsx", &limits);
        assert!(matches!(b.check_time(), Err(IngestError::ConvertTimeout { .. })));
        assert_eq!(b.unpack_remaining(), u64::MAX);
    }
}
