//! `tamis`: the command-line face of the tamis retrieval engine.
//!
//! Glue only: flags are parsed here, validated into library configs, and the work is
//! done by `tamis-models` (and later the engine). No scoring logic lives in this crate.

mod bench;
mod embed;
mod eval;
mod exit;
mod filter_args;
mod hub;
mod index;
mod info;
mod jsonl;
mod location;
mod machine;
mod model_args;
mod rerank;
mod search;
mod serve;
mod stage_args;
mod train;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::exit::Exit;

/// tamis — two-stage retrieval: fast recall with a bi-encoder, fine ranking with a cross-encoder.
///
/// Models are named by a local directory (Hugging Face layout: config.json,
/// tokenizer.json, model.safetensors) or by a hub id such as
/// `cross-encoder/ms-marco-MiniLM-L-6-v2`. Hub ids are looked up in the local
/// Hugging Face cache first ($HF_HUB_CACHE, else $HF_HOME/hub, else
/// ~/.cache/huggingface/hub), so models downloaded by Python tools are reused;
/// only then is the hub asked (never with --offline or HF_HUB_OFFLINE=1).
#[derive(Debug, Parser)]
#[command(name = "tamis", version, propagate_version = true, after_help = EXIT_STATUS_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,

    /// Log verbosity (error, warn, info, debug, trace); logs go to standard error.
    #[arg(long, global = true, env = "TAMIS_LOG", default_value = "warn")]
    log: String,
}

#[derive(Debug, Subcommand)]
enum Command {
    Embed(embed::EmbedArgs),
    Rerank(rerank::RerankArgs),
    Index(index::IndexArgs),
    Search(search::SearchArgs),
    Info(info::InfoArgs),
    Eval(eval::EvalArgs),
    Train(train::TrainArgs),
    Serve(serve::ServeArgs),
    Bench(bench::BenchArgs),
}

/// The exit statuses (`crates/tamis-cli/src/exit.rs` says why these numbers).
const EXIT_STATUS_HELP: &str = "\
Exit status:
  0   success (also when the reader of standard output closes it early)
  2   usage: the command line is malformed (unknown flag, missing argument, bad value)
  65  input: what was given is wrong (a malformed file or JSON line, a flag value out
      of range, an index built with another model)
  66  not found: a named index, collection, model, dataset or file does not exist
  70  internal: a bug in tamis or a library it uses
  75  unavailable, retrying may succeed: another process is writing the index, the
      database or the Hugging Face hub cannot be reached, the disk is full";

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // --help and --version end here too, successfully.
            let _ = err.print();
            return if err.use_stderr() { Exit::Usage.into() } else { ExitCode::SUCCESS };
        }
    };
    if !matches!(cli.command, Command::Serve(_)) {
        end_quietly_on_a_closed_pipe();
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&cli.log))
        .with_writer(std::io::stderr)
        .init();
    let result = match &cli.command {
        Command::Embed(args) => embed::run(args),
        Command::Rerank(args) => rerank::run(args),
        Command::Index(args) => index::run(args),
        Command::Search(args) => search::run(args),
        Command::Info(args) => info::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Train(args) => train::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "tamis: error: {}", one_line(&err));
            Exit::of(&err).into()
        }
    }
}

/// The error and its causes on one line, like `{:#}`, but without repeating a cause that
/// its parent's message already ends with (errors that print their source themselves).
fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if !line.is_empty() && line.ends_with(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// `tamis embed … | head` closes our standard output early; that is not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Rust's runtime ignores SIGPIPE, so once a reader closes the pipe (`tamis search … | head
/// -1`) every write fails and `println!` panics with a backtrace. A command-line tool ends
/// there, silently, as `cat` does: this restores the default action. The server keeps
/// ignoring it (a closed pipe is then an error to handle, never a reason to stop serving).
fn end_quietly_on_a_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: called from `main` before any thread exists; SIG_DFL is the action every
    // process starts with, before Rust's runtime sets SIGPIPE to SIG_IGN.
    #[allow(unsafe_code)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

// Model inference allocates and frees large activation buffers for every layer; glibc
// hands those back to the kernel each time (a page fault per 4 KiB on reuse), while
// mimalloc keeps them, which measurably cuts system time on reranking.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc.h's `mi_option_t` (the same in mimalloc v2 and v3).
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

#[allow(unsafe_code)]
unsafe extern "C" {
    /// mimalloc's runtime setting of an option (`libmimalloc-sys` links it in).
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// Keeps memory mimalloc frees committed instead of returning it to the kernel after
/// 10 ms. A training step frees and reallocates tens of megabytes of activations and
/// gradients; returned, they came back as fresh pages the kernel zeroes on every step, a
/// quarter of the process' time (measured: 0.41 against 0.70 steps/s, `tamis bench
/// train`, MiniLM-L6, 2 threads). The cost is a resident size that stays at its peak,
/// which is why only the training commands ask for it.
pub(crate) fn keep_freed_memory() {
    // SAFETY: sets a plain integer option; mimalloc reads it when it next decides to purge.
    #[allow(unsafe_code)]
    unsafe {
        mi_option_set(MI_OPTION_PURGE_DELAY, -1);
    }
}

#[cfg(test)]
mod tests {
    /// An error whose message ends with its source's, as many library errors do.
    #[derive(Debug)]
    struct PrintsItsSource {
        source: std::io::Error,
    }

    impl std::fmt::Display for PrintsItsSource {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "opening collection docs: {}", self.source)
        }
    }

    impl std::error::Error for PrintsItsSource {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.source)
        }
    }

    #[test]
    fn a_cause_is_printed_once() {
        let io = std::io::Error::other("disk on fire");
        let err = anyhow::Error::new(PrintsItsSource { source: io }).context("starting the server");
        assert_eq!(
            super::one_line(&err),
            "starting the server: opening collection docs: disk on fire"
        );
        let plain = anyhow::anyhow!("inner").context("middle").context("outer");
        assert_eq!(super::one_line(&plain), "outer: middle: inner");
    }
}
