//! `tamis train` end to end on a made-up dataset with the tiny fixture models: the
//! model it writes loads in `tamis rerank`; misuse fails with one line and writes nothing.

use std::path::{Path, PathBuf};

use crate::{INPUT, NOT_FOUND, USAGE, assert_fails_with, model_fixture, tamis, tamis_ok};

/// Six topics, 36 documents (six per topic), six queries each judging two documents.
fn write_dataset(dir: &Path) {
    let topics = [
        "vitamin d bone",
        "statin cancer",
        "sleep memory",
        "coffee heart",
        "sugar diet",
        "exercise blood",
    ];
    let mut corpus = String::new();
    for i in 0..36 {
        let line = serde_json::json!({"_id": format!("d{i}"), "title": format!("note {i}"), "text": format!("{} trial {i}", topics[i % 6])});
        corpus.push_str(&format!("{line}\n"));
    }
    let queries: String = topics
        .iter()
        .enumerate()
        .map(|(q, t)| format!("{}\n", serde_json::json!({"_id": format!("q{q}"), "text": t})))
        .collect();
    let mut qrels = String::from("query-id\tcorpus-id\tscore\n");
    for q in 0..6 {
        qrels.push_str(&format!("q{q}\td{q}\t1\nq{q}\td{}\t1\nq{q}\td{}\t0\n", q + 6, q + 12));
    }
    fs_err::create_dir_all(dir.join("qrels")).unwrap();
    fs_err::write(dir.join("corpus.jsonl"), corpus).unwrap();
    fs_err::write(dir.join("queries.jsonl"), queries).unwrap();
    fs_err::write(dir.join("qrels/train.tsv"), qrels).unwrap();
}

/// A temporary folder holding the made-up dataset, and the output and cache paths in it.
fn workspace(output: &str) -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
    let work = tempfile::tempdir().unwrap();
    let dataset = work.path().join("data");
    write_dataset(&dataset);
    let (output, cache) = (work.path().join(output), work.path().join("cache"));
    (work, dataset, output, cache)
}

/// An input error found once the run has set up (so after its progress lines): the
/// status, and one error line, last.
fn assert_refused_after_setup(output: &std::process::Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(INPUT), "stderr: {stderr}");
    let last = stderr.trim_end().lines().last().unwrap_or_default();
    assert!(last.starts_with("tamis: error: ") && last.contains(needle), "{needle:?}: {stderr}");
    assert_eq!(stderr.matches("error").count(), 1, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn train_args<'a>(
    dataset: &'a str,
    output: &'a str,
    cache: &'a str,
    base: &'a str,
    model: &'a str,
) -> Vec<&'a str> {
    vec![
        "train",
        "--dataset",
        dataset,
        "--output",
        output,
        "--cache-dir",
        cache,
        "--base",
        base,
        "--model",
        model,
        "--negatives",
        "3",
        "--window",
        "20",
        "--max-length",
        "48",
        "--epochs",
        "2",
        "--batch-size",
        "2",
        "--lr",
        "1e-3",
        "--checkpoint-every",
        "5",
    ]
}

/// `args` with the value after `flag` replaced by `value`.
fn with_value(args: &[impl AsRef<str>], flag: &str, value: &str) -> Vec<String> {
    let mut out: Vec<String> = args.iter().map(|arg| arg.as_ref().to_owned()).collect();
    let at = out.iter().position(|arg| arg == flag).unwrap();
    out[at + 1] = value.to_owned();
    out
}

/// `tamis rerank --model MODEL` scores both documents of one query.
fn assert_reranks(model: &Path) {
    let input = r#"{"query": "statin cancer", "documents": ["statin cancer trial 1", "sleep memory trial 2"]}"#;
    let reranked = tamis(&["rerank", "--model", model.to_str().unwrap()], input, &[]);
    assert!(reranked.status.success(), "{}", String::from_utf8_lossy(&reranked.stderr));
    let line: serde_json::Value = serde_json::from_slice(&reranked.stdout).unwrap();
    assert_eq!(line["results"].as_array().unwrap().len(), 2);
}

#[test]
fn train_writes_a_model_that_tamis_reranks_with() {
    let work = tempfile::tempdir().unwrap();
    let dataset = work.path().join("data");
    write_dataset(&dataset);
    let output = work.path().join("trained");
    let (base, model) = (model_fixture("bert-ce-1label"), model_fixture("bert-embed-cls"));
    let paths = [
        dataset.to_str().unwrap(),
        output.to_str().unwrap(),
        work.path().join("cache").to_str().unwrap().to_owned().leak(),
    ];
    let args = train_args(paths[0], paths[1], paths[2], &base, &model);
    let run = tamis_ok(&args);
    let stderr = String::from_utf8_lossy(&run.stderr);
    // 12 groups (two judged-relevant documents per query), 2 per step, 2 epochs.
    assert!(stderr.contains("12 group(s) of 4 pair(s), 12 step(s)"), "{stderr}");
    assert!(stderr.contains("no dev evaluation"), "{stderr}");
    // The time, CPU and peak memory of the run, on the last line and in the card (Linux).
    if cfg!(target_os = "linux") {
        assert!(stderr.contains(", peak RSS "), "{stderr}");
        let card = fs_err::read_to_string(output.join("README.md")).unwrap();
        assert!(card.contains("- trained in ") && card.contains(" MiB"), "{card}");
    }
    for file in ["config.json", "model.safetensors", "tokenizer.json", "README.md"] {
        assert!(output.join(file).is_file(), "{file} missing");
    }
    assert!(!work.path().join("trained.checkpoint").exists(), "the checkpoint outlived the run");
    let config: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(output.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["architectures"][0], "BertForSequenceClassification");

    assert_reranks(&output);

    // A second run onto the same output is refused, and leaves it as it was.
    let before = fs_err::read(output.join("model.safetensors")).unwrap();
    assert_fails_with(&tamis(&args, "", &[]), INPUT, "already exists");
    assert_eq!(fs_err::read(output.join("model.safetensors")).unwrap(), before);
    // --resume without a checkpoint names where it looked.
    let resume = [&args[..], &["--overwrite", "--resume"]].concat();
    assert_fails_with(&tamis(&resume, "", &[]), INPUT, "trained.checkpoint");
}

#[test]
fn train_gives_an_xlm_roberta_bi_encoder_a_head() {
    let (_work, dataset, output, cache) = workspace("trained");
    let (base, model) = (model_fixture("xlmr-embed-mean"), model_fixture("bert-embed-cls"));
    let paths = [dataset.to_str().unwrap(), output.to_str().unwrap(), cache.to_str().unwrap()];
    // Trained on pairs of 32 tokens, written to read 48 (all its positions) at inference.
    let args = train_args(paths[0], paths[1], paths[2], &base, &model);
    let args = [
        &with_value(&args, "--max-length", "32")[..],
        &["--export-max-length".to_owned(), "48".to_owned()],
    ]
    .concat();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = tamis_ok(&args);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("12 group(s) of 4 pair(s), 12 step(s)"), "{stderr}");
    let read = |file: &str| -> serde_json::Value {
        serde_json::from_str(&fs_err::read_to_string(output.join(file)).unwrap()).unwrap()
    };
    assert_eq!(read("config.json")["architectures"][0], "XLMRobertaForSequenceClassification");
    assert_eq!(read("tokenizer_config.json")["model_max_length"], 48);
    let card = fs_err::read_to_string(output.join("README.md")).unwrap();
    assert!(card.contains("`XLMRobertaForSequenceClassification`, one label"), "{card}");
    assert!(card.contains("max_length 32 (reads 48 at inference)"), "{card}");
    assert_reranks(&output);
}

#[test]
fn train_evaluates_on_dev_and_publishes_the_best_step() {
    let work = tempfile::tempdir().unwrap();
    let dataset = work.path().join("data");
    write_dataset(&dataset);
    // Held-out judgments of the same queries: other documents of their topic.
    let mut dev = String::from("query-id\tcorpus-id\tscore\n");
    for q in 0..6 {
        dev.push_str(&format!("q{q}\td{}\t1\nq{q}\td{}\t1\n", q + 18, q + 24));
    }
    fs_err::write(dataset.join("qrels/dev.tsv"), dev).unwrap();
    let output = work.path().join("trained");
    let (base, model) = (model_fixture("bert-ce-1label"), model_fixture("bert-embed-cls"));
    let cache = work.path().join("cache");
    let paths = [dataset.to_str().unwrap(), output.to_str().unwrap(), cache.to_str().unwrap()];
    let mut args = train_args(paths[0], paths[1], paths[2], &base, &model);
    args.extend(["--eval-every", "5", "--dev-candidates", "8", "--time-budget", "10m"]);
    let run = tamis_ok(&args);
    let stderr = String::from_utf8_lossy(&run.stderr);
    // A budget far from reached: every step of the epochs runs (too few to be timed for
    // a schedule sized to the budget).
    assert!(stderr.contains("after 12 step(s)") && !stderr.contains("--time-budget:"), "{stderr}");
    // Steps 5 and 10, and the last (12).
    for step in [5, 10, 12] {
        assert!(stderr.contains(&format!("step {step}: dev nDCG@10")), "{stderr}");
    }
    assert!(stderr.contains("kept step"), "{stderr}");
    let card = fs_err::read_to_string(output.join("README.md")).unwrap();
    assert!(card.contains("## Dev evaluation"), "{card}");
    assert_eq!(card.matches(" (kept) |").count(), 1, "{card}");
    let rows = card.lines().filter(|line| line.starts_with("| ") && line.contains('.')).count();
    assert_eq!(rows, 3, "{card}");
    for file in ["config.json", "model.safetensors", "tokenizer.json"] {
        assert!(output.join(file).is_file(), "{file} missing");
    }
    for leftover in ["trained.best", "trained.dev", "trained.checkpoint"] {
        assert!(!work.path().join(leftover).exists(), "{leftover} outlived the run");
    }
    let reranked = tamis(
        &["rerank", "--model", output.to_str().unwrap()],
        "{\"query\": \"statin\", \"documents\": [\"statin\"]}",
        &[],
    );
    assert!(reranked.status.success(), "{}", String::from_utf8_lossy(&reranked.stderr));

    // The dev split must be held out.
    let same = [&args[..], &["--overwrite", "--dev-split", "train"]].concat();
    assert_fails_with(&tamis(&same, "", &[]), INPUT, "training split");
}

#[test]
fn train_misuse_fails_with_one_line() {
    let (_work, dataset, output, cache) = workspace("out");
    let (base, model) = (model_fixture("bert-ce-1label"), model_fixture("bert-embed-cls"));
    let paths = [dataset.to_str().unwrap(), output.to_str().unwrap(), cache.to_str().unwrap()];
    let args = train_args(paths[0], paths[1], paths[2], &base, &model);

    // A base that is not a BERT-family encoder (a decoder) names what it is.
    let decoder = dataset.parent().unwrap().join("decoder");
    fs_err::create_dir_all(&decoder).unwrap();
    let config = serde_json::json!({
        "model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"], "vocab_size": 1000,
        "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
        "intermediate_size": 64, "hidden_act": "silu", "max_position_embeddings": 128,
    })
    .to_string();
    fs_err::write(decoder.join("config.json"), config).unwrap();
    let with = |flag: &str, value: &str| with_value(&args, flag, value);
    let decoder_args = with("--base", decoder.to_str().unwrap());
    let refs: Vec<&str> = decoder_args.iter().map(String::as_str).collect();
    assert_fails_with(&tamis(&refs, "", &[]), INPUT, "Qwen2ForCausalLM");

    // The same queries as a held-out split: enough for the dev flags' checks.
    fs_err::copy(dataset.join("qrels/train.tsv"), dataset.join("qrels/held-out.tsv")).unwrap();
    // Dev flags out of range, and a dev split the dataset lacks.
    for (flag, value, reason) in [
        ("--eval-every", "0", "--eval-every must be at least 1"),
        ("--dev-candidates", "0", "--dev-candidates must be at least 1"),
        ("--dev-queries", "0", "--dev-queries must be at least 1"),
        ("--random-negatives", "4", "at most 3"),
        ("--positives-within", "0", "--positives-within must be at least 1"),
        ("--export-max-length", "4096", "positions"),
        ("--export-max-length", "0", "positions"),
    ] {
        let bad = [&args[..], &[flag, value]].concat();
        assert_fails_with(&tamis(&bad, "", &[]), INPUT, reason);
    }
    // A huge --dev-candidates reranks what there is (it once aborted allocating for it).
    let huge = [&args[..], &["--dev-split", "held-out", "--dev-candidates", "1000000000000"]];
    let run = tamis_ok(&huge.concat());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("step 12: dev nDCG@10"), "{stderr}");
    fs_err::remove_dir_all(&output).unwrap();
    let missing = [&args[..], &["--dev-split", "nope"]].concat();
    assert_fails_with(&tamis(&missing, "", &[]), NOT_FOUND, "nope");

    // A judgment naming a document the corpus lacks.
    fs_err::write(dataset.join("qrels/train.tsv"), "query-id\tcorpus-id\tscore\nq0\tnope\t1\n")
        .unwrap();
    assert_fails_with(&tamis(&args, "", &[]), INPUT, "no such document");
    // Nothing judged relevant.
    fs_err::write(dataset.join("qrels/train.tsv"), "query-id\tcorpus-id\tscore\nq0\td1\t0\n")
        .unwrap();
    assert_fails_with(&tamis(&args, "", &[]), INPUT, "no document relevant");
    // --max-length beyond the model's positions.
    let long = with("--max-length", "4096");
    let refs: Vec<&str> = long.iter().map(String::as_str).collect();
    assert_fails_with(&tamis(&refs, "", &[]), INPUT, "positions");
    assert!(!output.exists(), "a failed run wrote its output");
}

#[test]
fn a_run_killed_by_sigkill_resumes_to_the_model_an_unbroken_run_writes() {
    let work = tempfile::tempdir().unwrap();
    let dataset = work.path().join("data");
    write_dataset(&dataset);
    let (base, model) = (model_fixture("bert-ce-1label"), model_fixture("bert-embed-cls"));
    let cache = work.path().join("cache");
    let (unbroken, killed) = (work.path().join("unbroken"), work.path().join("killed"));
    let run_args = |output: &Path| -> Vec<String> {
        let paths = [dataset.to_str().unwrap(), output.to_str().unwrap(), cache.to_str().unwrap()];
        let args = train_args(paths[0], paths[1], paths[2], &base, &model);
        // 120 steps, a checkpoint every 3: long enough to be killed part way.
        let mut args = with_value(&with_value(&args, "--epochs", "20"), "--checkpoint-every", "3");
        args.push("--no-dev".to_owned());
        args
    };
    let unbroken_args = run_args(&unbroken);
    tamis_ok(&unbroken_args.iter().map(String::as_str).collect::<Vec<_>>());

    let killed_args = run_args(&killed);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tamis"))
        .args(&killed_args)
        .env("HF_HUB_OFFLINE", "1")
        .env("TAMIS_THREADS", "2")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let checkpoint = work.path().join("killed.checkpoint");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !checkpoint.join("state.json").is_file() {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before its first checkpoint");
        assert!(std::time::Instant::now() < deadline, "no checkpoint after 120 s");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    // A few steps past the first checkpoint, then SIGKILL wherever the run is.
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert!(child.try_wait().unwrap().is_none(), "the run ended before it was killed");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!killed.exists(), "a killed run published a model");

    let resume = [&killed_args[..], &["--resume".to_owned()]].concat();
    let resume: Vec<&str> = resume.iter().map(String::as_str).collect();
    // A training state this version cannot read is refused, naming the checkpoint, not
    // silently restarted; the checkpoint is left as it was.
    let state = [checkpoint.clone(), work.path().join("killed.checkpoint.old")]
        .map(|dir| dir.join("state.json"))
        .into_iter()
        .find(|file| file.is_file())
        .expect("the killed run left a checkpoint");
    let kept = fs_err::read_to_string(&state).unwrap();
    let mut edited: serde_json::Value = serde_json::from_str(&kept).unwrap();
    edited["state"]["schedule"] = serde_json::json!("soon");
    fs_err::write(&state, edited.to_string()).unwrap();
    assert_refused_after_setup(&tamis(&resume, "", &[]), "schedule saved in");
    assert_eq!(fs_err::read_to_string(&state).unwrap(), edited.to_string());
    assert!(!killed.exists(), "a refused resume published a model");
    fs_err::write(&state, kept).unwrap();

    let run = tamis_ok(&resume);
    let stderr = String::from_utf8_lossy(&run.stderr);
    let resumed_at: u64 = stderr
        .split("resuming at step ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|step| step.parse().ok())
        .unwrap_or_else(|| panic!("no resume line: {stderr}"));
    assert!(resumed_at > 0 && resumed_at < 120, "resumed at step {resumed_at}");
    // Same data order, dropout masks and optimizer state: the same weights, bit for bit.
    let weights = |dir: &Path| fs_err::read(dir.join("model.safetensors")).unwrap();
    assert!(weights(&killed) == weights(&unbroken), "the resumed run's weights differ");
}

#[test]
fn train_distills_a_teacher_whose_scores_are_cached_and_checked() {
    let (work, dataset, output, cache) = workspace("student");
    let (base, model) = (model_fixture("bert-embed-cls"), model_fixture("bert-embed-cls"));
    let teacher = model_fixture("bert-ce-1label");
    let scores = work.path().join("teacher.jsonl");
    let paths = [dataset.to_str().unwrap(), output.to_str().unwrap(), cache.to_str().unwrap()];
    let args = train_args(paths[0], paths[1], paths[2], &base, &model);
    let distill = [
        &args[..],
        &["--teacher", &teacher, "--teacher-scores", scores.to_str().unwrap(), "--loss", "kl"],
        &["--label-weight", "0.5"],
    ]
    .concat();

    let run = tamis_ok(&distill);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("scoring"), "{stderr}");
    assert!(output.join("model.safetensors").is_file());
    // A header, then one line per training query with every pair a group can hold:
    // its two judged documents and its window (ranks 3..20: 17 documents, which may
    // hold the judged ones).
    let text = fs_err::read_to_string(&scores).unwrap();
    let lines: Vec<serde_json::Value> =
        text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines[0]["tamis_teacher_scores"], 1);
    assert_eq!(lines.len(), 7, "{text}");
    for line in &lines[1..] {
        let scored = line["scores"].as_object().unwrap();
        assert!((17..=19).contains(&scored.len()), "{line}");
    }

    // A second run reads every score back; MarginMSE trains on the same file.
    let again = [&distill[..], &["--overwrite"]].concat();
    let again = with_value(&again, "--loss", "margin-mse");
    let again: Vec<&str> = again.iter().map(String::as_str).collect();
    let run = tamis_ok(&again);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("all read from"), "{stderr}");
    assert_eq!(fs_err::read_to_string(&scores).unwrap(), text);

    // A run killed while scoring leaves a torn last line: it is scored again.
    let torn = &text[..text.len() - 10];
    fs_err::write(&scores, torn).unwrap();
    let run = tamis_ok(&again);
    assert!(String::from_utf8_lossy(&run.stderr).contains("of 1 quer(ies)"));
    let mended = fs_err::read_to_string(&scores).unwrap();
    assert_eq!(mended.lines().count(), 7, "{mended}");

    // A middle line whose score is not a number is refused, naming the line; the file
    // and the model published before are left as they were.
    let mut lines: Vec<String> = mended.lines().map(str::to_owned).collect();
    let mut middle: serde_json::Value = serde_json::from_str(&lines[2]).unwrap();
    let doc = middle["scores"].as_object().unwrap().keys().next().unwrap().clone();
    middle["scores"][&doc] = serde_json::json!("high");
    lines[2] = middle.to_string();
    let damaged = lines.join("\n") + "\n";
    fs_err::write(&scores, &damaged).unwrap();
    let published = fs_err::read(output.join("model.safetensors")).unwrap();
    assert_refused_after_setup(&tamis(&again, "", &[]), "line 3");
    assert_eq!(fs_err::read_to_string(&scores).unwrap(), damaged);
    assert_eq!(fs_err::read(output.join("model.safetensors")).unwrap(), published);
    fs_err::write(&scores, &mended).unwrap();

    // The same file offered for another dataset (other queries) is refused.
    let other = work.path().join("other");
    write_dataset(&other);
    let queries = fs_err::read_to_string(other.join("queries.jsonl")).unwrap();
    fs_err::write(other.join("queries.jsonl"), queries.replace("vitamin d", "vitamin k")).unwrap();
    let mut elsewhere = with_value(&again, "--dataset", other.to_str().unwrap());
    elsewhere.push("--no-dev".to_owned());
    let elsewhere: Vec<&str> = elsewhere.iter().map(String::as_str).collect();
    assert_fails_with(&tamis(&elsewhere, "", &[]), INPUT, "another dataset");

    // A distillation loss without a teacher, a teacher without one, a stray weight.
    fs_err::remove_dir_all(&output).unwrap();
    let no_teacher = with_value(&args, "--epochs", "1");
    for (extra, reason) in [
        (vec!["--loss", "kl"], "name it with --teacher"),
        (vec!["--teacher", teacher.as_str()], "--teacher needs a distillation loss"),
        (vec!["--label-weight", "1"], "--label-weight weighs"),
        (vec!["--loss", "kl", "--teacher", teacher.as_str(), "--label-weight=-1"], "0 or more"),
    ] {
        let bad = [&no_teacher[..], &extra.iter().map(|s| s.to_string()).collect::<Vec<_>>()[..]]
            .concat();
        let refs: Vec<&str> = bad.iter().map(String::as_str).collect();
        assert_fails_with(&tamis(&refs, "", &[]), INPUT, reason);
    }
    assert!(!output.exists(), "a failed run wrote its output");
}

#[test]
fn train_mixes_random_negatives_title_queries_and_ranked_positives() {
    let (_work, dataset, output, cache) = workspace("out");
    let (base, model) = (model_fixture("bert-ce-1label"), model_fixture("bert-embed-cls"));
    let paths = [dataset.to_str().unwrap(), output.to_str().unwrap(), cache.to_str().unwrap()];
    let args = train_args(paths[0], paths[1], paths[2], &base, &model);

    let flags = ["--no-dev", "--random-negatives", "2", "--positives-within", "36"];
    let mixed = [&args[..], &flags, &["--title-queries", "5"]];
    let run = tamis_ok(&mixed.concat());
    let stderr = String::from_utf8_lossy(&run.stderr);
    // Every document is ranked within 36 of a 36-document corpus: all 12 positives
    // train, and 5 titles make 5 more groups.
    assert!(stderr.contains("on 17 group(s) of 4 pair(s)"), "{stderr}");
    let card = fs_err::read_to_string(output.join("README.md")).unwrap();
    assert!(card.contains("2 of the negatives drawn at random from the corpus"), "{card}");
    assert!(card.contains("only positives stage 1 ranks within its top 36"), "{card}");
    assert!(card.contains("up to 5 title pseudo-queries"), "{card}");

    // Random negatives and pseudo-queries are not scored by a teacher: the flags exclude
    // each other.
    for flag in ["--random-negatives", "--title-queries"] {
        let teacher = [&args[..], &["--overwrite", flag, "1", "--teacher", &base]];
        let refused = tamis(&teacher.concat(), "", &[]);
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(refused.status.code(), Some(USAGE), "{stderr}");
        assert!(stderr.contains("cannot be used with '--teacher"), "{stderr}");
    }
}
