//! Tests of the settings file: round trips and every way it can be corrupt.

use super::*;
use crate::ErrorKind;

fn all_configs() -> Vec<Bm25Config> {
    let mut out = Vec::new();
    for stemming in [false, true] {
        for stopwords in [false, true] {
            for fields in [FieldMode::Multifield, FieldMode::Concatenated] {
                let title_weight = 2.5;
                for params in [
                    Bm25Params::default(),
                    Bm25Params { k1: 0.9, b: 0.4, title_weight },
                    Bm25Params { k1: 0.0, b: 1.0, title_weight: 1.0 },
                    Bm25Params { k1: 1.0 / 3.0, b: 0.0, title_weight },
                ] {
                    out.push(Bm25Config { stemming, stopwords, fields, params });
                }
            }
        }
    }
    out
}

#[test]
fn default_stems_and_drops_stop_words() {
    let config = Bm25Config::default();
    assert!(config.stemming);
    assert!(config.stopwords);
    assert_eq!(config.fields, FieldMode::default());
}

#[test]
fn every_config_round_trips_through_the_file() {
    for config in all_configs() {
        let dir = tempfile::tempdir().unwrap();
        write_settings(dir.path(), &config).unwrap();
        assert_eq!(read_settings(dir.path()).unwrap(), config);
        // Only the settings file is left: the temporary one was renamed.
        let names: Vec<_> =
            fs_err::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, [SETTINGS_FILE]);
    }
}

#[test]
fn comments_blank_lines_and_spacing_are_tolerated() {
    let text = "# hi\n\n  format=1 \r\nstemming =false\nstopwords= true\n\tfields = concatenated\n";
    let config = parse_settings(Path::new("x"), text).unwrap();
    assert_eq!(
        config,
        Bm25Config {
            stemming: false,
            stopwords: true,
            fields: FieldMode::Concatenated,
            params: Bm25Params::LEGACY
        }
    );
}

/// Parses `text` and expects a corrupt-settings error at `line` whose problem contains `needle`.
#[track_caller]
fn check_corrupt(text: &str, line: usize, needle: &str) {
    let path = Path::new("/some/index/tamis-lexical.cfg");
    let Err(err) = parse_settings(path, text) else {
        panic!("{text:?}: expected a corrupt-settings error, got a config");
    };
    let Error::CorruptConfig { path: got_path, line: got_line, problem } = &err else {
        panic!("{text:?}: expected a corrupt-settings error, got {err:?}");
    };
    assert_eq!(got_path, path);
    assert_eq!(*got_line, line, "{text:?}: {err}");
    assert!(problem.contains(needle), "{text:?}: {problem:?} lacks {needle:?}");
    assert!(err.to_string().contains("/some/index/tamis-lexical.cfg"), "{err}");
    assert_eq!(err.kind(), ErrorKind::User);
}

#[test]
fn corrupt_files_are_rejected_with_the_line_at_fault() {
    let ok = "format = 1\nstemming = true\nstopwords = true\nfields = multifield\n";
    let params = "k1 = 0.9\nb = 0.4\ntitle_weight = 1\n";
    let v2 = "format = 2\nstemming = true\nstopwords = true\nfields = multifield\n";
    assert!(parse_settings(Path::new("x"), &format!("{v2}{params}")).is_ok());
    check_corrupt(&format!("{v2}b = 0.4\ntitle_weight = 1\n"), 0, "'k1' is missing");
    check_corrupt(&format!("{v2}k1 = 0.4\ntitle_weight = 1\n"), 0, "'b' is missing");
    check_corrupt(&format!("{v2}k1 = 0.4\nb = 1\n"), 0, "'title_weight' is missing");
    check_corrupt(&format!("{ok}k1 = 0.9\n"), 0, "'k1' needs format 2");
    check_corrupt(&format!("{v2}{params}k1 = 1\n"), 8, "'k1' is set twice");
    check_corrupt(&format!("{v2}k1 = high\n"), 5, "invalid value 'high' for 'k1'");
    check_corrupt(&format!("{v2}k1 = 0.9\nb = 1.5\ntitle_weight = 1\n"), 0, "BM25 b = 1.5");
    check_corrupt(&format!("{v2}k1 = NaN\nb = 0.5\ntitle_weight = 1\n"), 0, "BM25 k1 = NaN");
    check_corrupt(&format!("{v2}k1 = 1\nb = 0.5\ntitle_weight = 0\n"), 0, "title_weight = 0");
    check_corrupt("", 0, "'format' is missing");
    check_corrupt("stemming = true\n", 0, "'format' is missing");
    check_corrupt(
        "format = 1\nstopwords = true\nfields = multifield\n",
        0,
        "'stemming' is missing",
    );
    check_corrupt(
        "format = 1\nstemming = true\nfields = multifield\n",
        0,
        "'stopwords' is missing",
    );
    check_corrupt("format = 1\nstemming = true\nstopwords = true\n", 0, "'fields' is missing");
    check_corrupt(&format!("{ok}colour = blue\n"), 5, "unknown setting 'colour'");
    check_corrupt(&format!("{ok}stemming = false\n"), 5, "'stemming' is set twice");
    check_corrupt("format = 1\nstemming = yes\n", 2, "invalid value 'yes' for 'stemming'");
    check_corrupt("format = 1\nstemming = true\nstopwords = 1\n", 3, "invalid value '1'");
    check_corrupt("format = 1\nfields = both\n", 2, "invalid value 'both' for 'fields'");
    check_corrupt("format = one\n", 1, "invalid value 'one' for 'format'");
    check_corrupt("format 1\n", 1, "expected 'key = value'");
    check_corrupt("{\"format\": 1}\n", 1, "expected 'key = value'");
}

#[test]
fn a_newer_format_is_unsupported_not_corrupt() {
    let err = parse_settings(Path::new("cfg"), "format = 3\nwhatever = 3\n").unwrap_err();
    // The unknown key on line 2 is reported as such: keys are checked before the format.
    assert!(matches!(err, Error::CorruptConfig { line: 2, .. }), "{err:?}");
    let err = parse_settings(Path::new("cfg"), "format = 3\nstemming = true\n").unwrap_err();
    assert!(matches!(err, Error::UnsupportedFormat { found: 3, supported: 2, .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::User);
}

#[test]
fn a_directory_without_settings_is_not_an_index() {
    let dir = tempfile::tempdir().unwrap();
    let err = read_settings(dir.path()).unwrap_err();
    assert!(matches!(&err, Error::NotAnIndex { path, .. } if path == dir.path()), "{err:?}");
    assert!(err.to_string().contains(&dir.path().display().to_string()), "{err}");
    let missing = dir.path().join("nope");
    assert!(matches!(read_settings(&missing), Err(Error::NotAnIndex { .. })));
}

#[test]
fn a_binary_settings_file_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(settings_path(dir.path()), [0xff, 0xfe, 0x00]).unwrap();
    let err = read_settings(dir.path()).unwrap_err();
    assert!(matches!(err, Error::CorruptConfig { line: 0, .. }), "{err:?}");
}

#[test]
fn an_index_written_before_the_parameters_keeps_tantivys() {
    let text = "format = 1\nstemming = true\nstopwords = true\nfields = multifield\n";
    let config = parse_settings(Path::new("x"), text).unwrap();
    assert_eq!(config.params, Bm25Params::LEGACY);
    assert_eq!((config.params.k1, config.params.b), (1.2, 0.75));
}

#[test]
fn parameters_out_of_range_are_refused_with_their_name() {
    let ok = Bm25Params { k1: 0.9, b: 0.4, title_weight: 2.0 };
    assert!(ok.validate().is_ok());
    let bad = [
        (Bm25Params { k1: -0.1, ..ok }, "k1 = -0.1"),
        (Bm25Params { k1: f32::NAN, ..ok }, "k1 = NaN"),
        (Bm25Params { k1: f32::INFINITY, ..ok }, "k1 = inf"),
        (Bm25Params { b: -0.01, ..ok }, "b = -0.01"),
        (Bm25Params { b: 1.01, ..ok }, "b = 1.01"),
        (Bm25Params { b: f32::NAN, ..ok }, "b = NaN"),
        (Bm25Params { title_weight: 0.0, ..ok }, "title_weight = 0"),
        (Bm25Params { title_weight: -1.0, ..ok }, "title_weight = -1"),
        (Bm25Params { title_weight: f32::NAN, ..ok }, "title_weight = NaN"),
    ];
    for (params, needle) in bad {
        let err = params.validate().unwrap_err();
        assert!(err.to_string().contains(needle), "{err}");
        assert!(err.to_string().contains("expected"), "{err}");
        assert_eq!(Error::from(err).kind(), ErrorKind::User);
    }
    // A title weight is not an error where there is no title field: it goes unused there.
    let concatenated =
        Bm25Config { fields: FieldMode::Concatenated, params: ok, ..Default::default() };
    assert!(concatenated.validate().is_ok());
}
