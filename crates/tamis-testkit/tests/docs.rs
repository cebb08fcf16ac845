//! Paths named in the docs exist: ARCHITECTURE.md and the README go stale otherwise.

#[test]
fn paths_named_in_docs_exist() {
    let root = tamis_testkit::workspace_root();
    let mut checked = 0;
    for doc in ["ARCHITECTURE.md", "README.md", "scripts/parity/README.md"] {
        let text = fs_err::read_to_string(root.join(doc)).unwrap();
        // Code spans that name repository paths: `crates/…`, `scripts/…`, `.ci/…`, and
        // `bench/…`, where the docs send readers for measurements.
        for span in text.split('`').skip(1).step_by(2) {
            let path = span.split_whitespace().next().unwrap_or("");
            if ["crates/", "scripts/", ".ci/", "bench/"].iter().any(|p| path.starts_with(p)) {
                assert!(root.join(path).exists(), "{doc} names {path}, which does not exist");
                checked += 1;
            }
        }
    }
    assert!(checked >= 10, "only {checked} paths found: is the scan broken?");
}
