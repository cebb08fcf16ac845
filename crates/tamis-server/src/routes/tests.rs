use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;

use super::json_errors;

async fn body(response: Response) -> serde_json::Value {
    let bytes = response.into_body().collect().await.expect("a body").to_bytes();
    serde_json::from_slice(&bytes).expect("JSON")
}

#[tokio::test]
async fn a_plain_text_error_is_rewritten_into_the_one_shape_keeping_its_headers() {
    let plain = Response::builder()
        .status(StatusCode::METHOD_NOT_ALLOWED)
        .header(header::ALLOW, "GET,HEAD")
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::from("Method Not Allowed\n"))
        .expect("a response");
    let mapped = json_errors(plain).await;
    assert_eq!(mapped.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(mapped.headers()[header::ALLOW], "GET,HEAD");
    assert_eq!(mapped.headers()[header::CONTENT_TYPE], "application/json");
    let json = body(mapped).await;
    assert_eq!(
        json,
        serde_json::json!({ "error": "Method Not Allowed", "error_type": "method_not_allowed" })
    );

    // A status outside the table becomes the nearest one; an empty body says its reason.
    let teapot = StatusCode::IM_A_TEAPOT.into_response();
    let mapped = json_errors(teapot).await;
    assert_eq!(mapped.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body(mapped).await["error"], "i'm a teapot");
}

#[tokio::test]
async fn successes_and_json_errors_pass_through_untouched() {
    let ok = (StatusCode::OK, "plain text").into_response();
    let passed = json_errors(ok).await;
    assert_eq!(passed.status(), StatusCode::OK);
    let bytes = passed.into_body().collect().await.expect("a body").to_bytes();
    assert_eq!(&bytes[..], b"plain text");
    let api = crate::ApiError::new(crate::ErrorType::Conflict, "taken").into_response();
    let passed = json_errors(api).await;
    assert_eq!(passed.status(), StatusCode::CONFLICT);
    assert_eq!(body(passed).await["error"], "taken");
}
