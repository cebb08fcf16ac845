//! The playground's page and assets: served without a key, under a strict
//! Content-Security-Policy, with nothing from another origin. (What the page does in a
//! browser is `scripts/playground/test_playground.py`'s.)

use axum::http::Method;
use tamis_server::playground::CONTENT_SECURITY_POLICY;

use crate::{Setup, TestServer};

const ASSETS: [(&str, &str); 4] = [
    ("/ui/playground.js", "text/javascript"),
    ("/ui/playground.css", "text/css"),
    ("/ui/icon.svg", "image/svg+xml"),
    ("/ui", "text/html"),
];

fn keyed() -> TestServer {
    Setup { api_key: Some("sesame"), ..Setup::default() }.start()
}

#[tokio::test]
async fn the_page_and_its_assets_are_served_without_a_key_under_a_strict_csp() {
    let server = keyed();
    // The API still wants the key; the page is public (it calls the API with the key its
    // user types).
    server.get("/info").await.expect_error(401, "unauthorized", "API key");
    for (path, content_type) in [("/", "text/html"), ("/ui/", "text/html")].iter().chain(&ASSETS) {
        let reply = server.get(path).await.expect(200);
        let header = |name: &str| reply.headers.get(name).map(|v| v.to_str().unwrap().to_string());
        assert!(header("content-type").unwrap().starts_with(content_type), "{path}");
        assert_eq!(header("content-security-policy").as_deref(), Some(CONTENT_SECURITY_POLICY));
        assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"));
        assert_eq!(header("x-frame-options").as_deref(), Some("DENY"));
        assert!(!reply.text.is_empty());
    }
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(CONTENT_SECURITY_POLICY.contains(directive), "{directive}");
    }
    assert!(!CONTENT_SECURITY_POLICY.contains("unsafe"), "{CONTENT_SECURITY_POLICY}");
}

#[tokio::test]
async fn the_page_loads_nothing_from_elsewhere_and_writes_no_markup_from_data() {
    let server = Setup::default().start();
    let page = server.get("/").await.expect(200).text;
    let script = server.get("/ui/playground.js").await.expect(200).text;
    let style = server.get("/ui/playground.css").await.expect(200).text;
    for (name, text) in [("page", &page), ("script", &script), ("style", &style)] {
        for origin in ["http:", "https:", "//cdn", "@import", "url("] {
            assert!(!text.contains(origin), "the {name} refers to {origin}");
        }
    }
    // Every script is a file of this server: the CSP would refuse an inline one anyway.
    assert_eq!(page.matches("<script").count(), 1);
    assert!(page.contains(r#"<script src="/ui/playground.js" defer></script>"#));
    assert!(!page.contains("style="), "inline styles are refused by the CSP");
    // The script builds the page from text nodes only.
    for sink in
        ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"]
    {
        assert!(!script.contains(sink), "the script uses {sink}");
    }
    // Every control of the static page has a label.
    for id in [
        "key",
        "collection",
        "manage-name",
        "manage-chunking",
        "manage-late",
        "upload-file",
        "upload-batch",
        "query",
        "compare",
    ] {
        assert!(page.contains(&format!(r#"<label for="{id}""#)), "no label for #{id}");
    }
}

#[tokio::test]
async fn without_the_playground_the_root_is_an_api_404() {
    let server = Setup { playground: false, ..Setup::default() }.start();
    for path in ["/", "/ui", "/ui/playground.js"] {
        server.get(path).await.expect_error(404, "not_found", path);
    }
    // The page's routes take GET only, as every other route, with the API's error shape.
    let server = Setup::default().start();
    server.call(Method::POST, "/ui", None, None).await.expect_error(
        405,
        "method_not_allowed",
        "/ui",
    );
}
