//! [`ocr`]: the text in an image, read by Tesseract run as a subprocess. The image goes in on
//! stdin and the text comes back on stdout (`tesseract stdin stdout -l LANGS`), so nothing is
//! written to disk; the process is killed when it outlives its time limit.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::MediaError;

/// How to run Tesseract.
#[derive(Debug, Clone, PartialEq)]
pub struct OcrOptions {
    /// The program (`tesseract`, found on `PATH`, or a full path).
    pub program: PathBuf,
    /// Tesseract's language codes joined by `+` (`eng`, `eng+deu`).
    pub languages: String,
    /// Longest one image may take.
    pub timeout: Duration,
}

impl Default for OcrOptions {
    fn default() -> Self {
        OcrOptions { program: "tesseract".into(), languages: "eng".into(), timeout: Duration::from_secs(60) }
    }
}

/// How to install Tesseract, for messages.
const INSTALL: &str = "`apt-get install tesseract-ocr tesseract-ocr-eng` on Debian and Ubuntu";
/// The configuration key of OCR's time limit, for messages.
const TIMEOUT_KEY: &str = "media.ocr.timeout_s";

/// The text Tesseract reads in an image (any format it reads: PNG, JPEG, TIFF, BMP, GIF,
/// WebP), without page breaks or outer blank lines. Empty when the image has no text.
pub fn ocr(image: &[u8], opts: &OcrOptions) -> Result<String, MediaError> {
    let mut cmd = Command::new(&opts.program);
    cmd.args(["stdin", "stdout", "-l", &opts.languages])
        // One thread per process: ingest already runs documents side by side.
        .env("OMP_THREAD_LIMIT", "1");
    let out = run(cmd, image, opts.timeout, &opts.program.display().to_string())?;
    Ok(tidy(&String::from_utf8_lossy(&out)))
}

/// Tesseract's version line (`tesseract 5.3.0`), for `trove doctor`.
pub fn tesseract_version(program: &std::path::Path) -> Result<String, MediaError> {
    let mut cmd = Command::new(program);
    cmd.arg("--version");
    let out = run(cmd, &[], Duration::from_secs(10), &program.display().to_string())?;
    let text = String::from_utf8_lossy(&out);
    Ok(text.lines().next().unwrap_or("tesseract").trim().to_string())
}

/// Runs a program with `input` on stdin, returning its stdout; killed past `timeout`.
fn run(mut cmd: Command, input: &[u8], timeout: Duration, program: &str) -> Result<Vec<u8>, MediaError> {
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().map_err(|e| {
        MediaError::ProgramMissing { program: program.to_string(), reason: e.to_string(), install: INSTALL }
    })?;
    let started = Instant::now();
    let mut stdin = child.stdin.take();
    let input = input.to_vec();
    // Writing, reading stdout and reading stderr each on their own thread: none can block the
    // others, whatever the child does first.
    let writer = std::thread::spawn(move || {
        if let Some(mut s) = stdin.take() {
            let _ = s.write_all(&input);
        }
    });
    let stdout = reader(child.stdout.take());
    let stderr = reader(child.stderr.take());
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= timeout => {
                kill(&mut child);
                return Err(MediaError::TimedOut {
                    program: program.to_string(),
                    seconds: timeout.as_secs_f64(),
                    key: TIMEOUT_KEY,
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                kill(&mut child);
                return Err(MediaError::Failed {
                    program: program.to_string(),
                    status: e.to_string(),
                    stderr: String::new(),
                });
            }
        }
    };
    let _ = writer.join();
    let out = stdout.join().unwrap_or_default();
    let err = stderr.join().unwrap_or_default();
    if !status.success() {
        let err = String::from_utf8_lossy(&err);
        let tail: String = err.trim().chars().rev().take(400).collect::<Vec<_>>().into_iter().rev().collect();
        return Err(MediaError::Failed { program: program.to_string(), status: status.to_string(), stderr: tail });
    }
    Ok(out)
}

fn reader(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    })
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Tesseract's output without its page breaks (form feeds) and outer blank lines. The
/// converter that places the text tidies its lines like any other text.
fn tidy(text: &str) -> String {
    text.replace('\u{c}', "").trim_matches(|c: char| c == '\n' || c == '\r' || c == ' ').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::render_text_png as rendered_text_png;

    fn tesseract() -> Option<OcrOptions> {
        let opts = OcrOptions::default();
        match tesseract_version(&opts.program) {
            Ok(_) => Some(opts),
            Err(e) => {
                // scripts/test installs it (scripts/media-test-deps); a bare `cargo test` on a
                // machine without it says so and checks the rest.
                eprintln!("skipping the real-Tesseract part: {e}");
                None
            }
        }
    }

    #[test]
    fn reads_rendered_text_with_real_tesseract() {
        let Some(opts) = tesseract() else { return };
        let png = rendered_text_png(&["SCANNED INVOICE 4711", "TOTAL DUE 93 EUR"]);
        let text = ocr(&png, &opts).unwrap();
        assert!(text.contains("SCANNED INVOICE 4711"), "{text:?}");
        assert!(text.contains("TOTAL") && text.contains("EUR"), "{text:?}");
        assert_eq!(text.lines().count(), 2, "{text:?}");
        // An image without text reads as nothing.
        let blank = rendered_text_png(&[]);
        assert_eq!(ocr(&blank, &opts).unwrap(), "");
    }

    #[test]
    fn a_missing_program_a_failure_and_a_timeout_are_clear_errors() {
        let missing = OcrOptions { program: "/nonexistent/tesseract".into(), ..OcrOptions::default() };
        let err = ocr(b"x", &missing).unwrap_err();
        assert!(matches!(err, MediaError::ProgramMissing { .. }), "{err:?}");
        assert!(err.to_string().contains("apt-get install tesseract-ocr"), "{err}");

        // A program that fails, and one that never ends (shell stand-ins for Tesseract).
        let dir = tempfile::tempdir().unwrap();
        let failing = dir.path().join("failing");
        std::fs::write(&failing, "#!/bin/sh\necho 'Error in pixReadStream' >&2\nexit 1\n").unwrap();
        let slow = dir.path().join("slow");
        std::fs::write(&slow, "#!/bin/sh\nexec sleep 30\n").unwrap();
        for p in [&failing, &slow] {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let err = ocr(b"x", &OcrOptions { program: failing, ..OcrOptions::default() }).unwrap_err();
        assert!(err.to_string().contains("pixReadStream"), "{err}");
        let started = Instant::now();
        let opts = OcrOptions { program: slow, timeout: Duration::from_millis(300), ..OcrOptions::default() };
        let err = ocr(b"x", &opts).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5), "killed at the limit");
        assert!(matches!(err, MediaError::TimedOut { .. }) && err.to_string().contains("media.ocr.timeout_s"), "{err}");
    }

    #[test]
    fn output_is_tidied() {
        assert_eq!(tidy("\n  A line\n\nB\n\u{c}\n"), "A line\n\nB");
    }
}
