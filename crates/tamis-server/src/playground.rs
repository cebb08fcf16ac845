//! The search playground: one page at `/` and `/ui` that calls the API like any client.
//!
//! The page is plain HTML, CSS and JavaScript in `playground/`, compiled into the binary,
//! so it needs no network beyond this server. It is public (it holds no data: every call
//! it makes carries the key the user types, and the API checks it), and its
//! Content-Security-Policy allows only this server's own script, style and API: nothing a
//! query or a document contains can run, even if a bug put it into the page as markup.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// No inline script or style, no other origin, no framing, no form posts.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

const PAGE: &str = include_str!("../playground/index.html");
const SCRIPT: &str = include_str!("../playground/playground.js");
const STYLE: &str = include_str!("../playground/playground.css");
const ICON: &str = include_str!("../playground/icon.svg");

/// The page's routes; they need no key (see the module docs).
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(page))
        .route("/ui", get(page))
        .route("/ui/", get(page))
        .route(
            "/ui/playground.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route("/ui/playground.css", get(|| async { asset("text/css; charset=utf-8", STYLE) }))
        .route("/ui/icon.svg", get(|| async { asset("image/svg+xml", ICON) }))
}

async fn page() -> Response {
    asset("text/html; charset=utf-8", PAGE)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        // The assets change with the binary: revalidate rather than run a stale script
        // against a newer API.
        (header::CACHE_CONTROL, "no-cache"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}
