//! JSON Lines in and out: standard input/output by default, files when named.

use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

pub mod lines;

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

/// A progress bar on standard error when it is a terminal; hidden otherwise.
pub fn progress(total: usize, unit: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64);
    let template = format!("{{bar:40}} {{pos}}/{{len}} {unit} ({{per_sec}}, eta {{eta}})");
    bar.set_style(
        ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}
