//! JSON Lines in and out: standard input/output by default, files when named.

use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};

pub mod lines;
#[cfg(test)]
mod tests;

/// Where JSON Lines come from and go to.
#[derive(Debug, Args)]
pub struct IoArgs {
    /// JSON Lines to read; standard input when absent.
    #[arg(long, short = 'i', value_name = "FILE")]
    pub input: Option<PathBuf>,

    /// Where to write the results; standard output when absent.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Where the input lines come from, for error messages.
pub fn source_name(input: Option<&Path>) -> String {
    input.map_or_else(|| "standard input".to_string(), |p| p.display().to_string())
}

/// Reads every non-blank line of `input` (or standard input) and parses it with `parse`,
/// failing on the first bad line with its number; nothing is computed before all lines parse.
pub fn read_lines<T>(
    input: Option<&Path>,
    parse: impl FnMut(&str) -> anyhow::Result<T>,
) -> anyhow::Result<Vec<T>> {
    let reader: Box<dyn BufRead> = match input {
        Some(path) => Box::new(BufReader::new(fs_err::File::open(path)?)),
        None => Box::new(BufReader::new(std::io::stdin().lock())),
    };
    lines::read_from(reader, &source_name(input), parse)
}

/// A JSON Lines writer on a file or standard output.
pub struct Output {
    writer: Box<dyn Write>,
    path: Option<PathBuf>,
}

impl Output {
    pub fn open(path: Option<&Path>) -> anyhow::Result<Output> {
        let writer: Box<dyn Write> = match path {
            Some(path) => Box::new(BufWriter::new(fs_err::File::create(path)?)),
            None => Box::new(BufWriter::new(std::io::stdout().lock())),
        };
        Ok(Output { writer, path: path.map(Path::to_path_buf) })
    }

    pub fn write(&mut self, value: &impl serde::Serialize) -> anyhow::Result<()> {
        serde_json::to_writer(&mut self.writer, value).map_err(std::io::Error::from)?;
        self.writer.write_all(b"\n")?;
        Ok(())
    }

    pub fn finish(mut self) -> anyhow::Result<()> {
        self.writer.flush().with_context(|| match &self.path {
            Some(path) => format!("writing {}", path.display()),
            None => "writing standard output".to_string(),
        })
    }
}

/// A progress bar on standard error: drawn when it is a terminal; otherwise (a log file,
/// CI) the same figures as a plain line at most once a minute, so that a long run shows
/// that it moves and how fast. Callers' messages (`set_message`) follow the figures.
pub fn progress(total: usize, unit: &str) -> ProgressBar {
    let figures = format!("{{pos}}/{{len}} {unit} ({{per_sec}}, eta {{eta}}) {{msg}}");
    let (bar, template) = if std::io::stderr().is_terminal() {
        (ProgressBar::new(total as u64), format!("{{bar:40}} {figures}"))
    } else {
        let target = ProgressDrawTarget::term_like_with_hz(Box::new(MinuteLines::default()), 1);
        (ProgressBar::with_draw_target(Some(total as u64), target), figures)
    };
    bar.set_style(
        ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// A progress bar's target off a terminal: of what the bar draws, one line a minute on
/// standard error (the first a minute after the start, so short commands print none).
#[derive(Debug)]
struct MinuteLines {
    state: std::sync::Mutex<(Instant, String)>,
}

impl Default for MinuteLines {
    fn default() -> MinuteLines {
        MinuteLines { state: std::sync::Mutex::new((Instant::now(), String::new())) }
    }
}

impl MinuteLines {
    const EVERY: Duration = Duration::from_secs(60);
}

impl TermLike for MinuteLines {
    fn width(&self) -> u16 {
        200
    }

    fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }

    fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }

    fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }

    fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }

    fn write_line(&self, s: &str) -> std::io::Result<()> {
        // Lines of one drawing (a bar's message on a line of its own) join with a space.
        self.write_str(s)?;
        self.write_str(" ")
    }

    fn write_str(&self, s: &str) -> std::io::Result<()> {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        state.1.push_str(s);
        Ok(())
    }

    fn clear_line(&self) -> std::io::Result<()> {
        Ok(())
    }

    /// The end of one drawing: printed if a minute has passed since the last line.
    fn flush(&self) -> std::io::Result<()> {
        match self.take_due(Instant::now()) {
            Some(line) => writeln!(std::io::stderr().lock(), "{line}"),
            None => Ok(()),
        }
    }
}

impl MinuteLines {
    /// What was drawn since the last call, trimmed, if it is due at `now`; the drawing is
    /// dropped either way.
    fn take_due(&self, now: Instant) -> Option<String> {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let drawn = std::mem::take(&mut state.1);
        let line = drawn.trim();
        if line.is_empty() || now.saturating_duration_since(state.0) < Self::EVERY {
            return None;
        }
        state.0 = now;
        Some(line.to_owned())
    }
}
