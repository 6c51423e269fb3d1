//! Progress of `weft copy` on standard error: documents done of the total, bytes written and
//! the rate. On a terminal one line redrawn in place (at most ten times a second); piped into a
//! file or a CI log, one line every `every` documents, so the log stays short.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Redraws of the terminal line at most this often.
const REDRAW: Duration = Duration::from_millis(100);

pub struct Progress {
    total: usize,
    done: usize,
    bytes: u64,
    started: Instant,
    drawn: Option<Instant>,
    tty: bool,
    every: usize,
}

impl Progress {
    pub fn new(total: usize, every: usize) -> Self {
        Progress {
            total,
            done: 0,
            bytes: 0,
            started: Instant::now(),
            drawn: None,
            tty: std::io::stderr().is_terminal(),
            every: every.max(1),
        }
    }

    /// One more document done (copied, skipped or failed), having written `bytes`.
    pub fn document_done(&mut self, bytes: u64) {
        self.done += 1;
        self.bytes += bytes;
        if self.tty {
            if self.drawn.is_none_or(|t| t.elapsed() >= REDRAW) || self.done == self.total {
                self.drawn = Some(Instant::now());
                eprint!("\r{}", self.line());
                let _ = std::io::stderr().flush();
            }
        } else if self.done % self.every == 0 || self.done == self.total {
            eprintln!("{}", self.line());
        }
    }

    /// Prints a message without breaking the progress line.
    pub fn say(&mut self, message: &str) {
        if self.tty && self.drawn.is_some() {
            eprint!("\r\x1b[K");
            self.drawn = None;
        }
        eprintln!("{message}");
    }

    /// Ends the terminal line.
    pub fn finish(&mut self) {
        if self.tty && self.drawn.is_some() {
            eprintln!();
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    fn line(&self) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        format!(
            "{}/{} documents, {}, {:.0} documents/s, {}/s",
            self.done,
            self.total,
            size(self.bytes as f64),
            self.done as f64 / secs,
            size(self.bytes as f64 / secs),
        )
    }
}

/// Bytes in KiB or MiB with one decimal (what the progress line and the report show).
pub fn size(bytes: f64) -> String {
    if bytes < 1024.0 * 1024.0 {
        format!("{:.1} KiB", bytes / 1024.0)
    } else {
        format!("{:.1} MiB", bytes / (1024.0 * 1024.0))
    }
}
