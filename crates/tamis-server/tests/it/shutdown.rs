//! Graceful shutdown over a real loopback socket: a request in flight finishes, new
//! connections are refused, collections are committed.

use std::time::Duration;

use axum::http::Method;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::{Setup, TestServer, counts, embedded_catalog};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_the_request_in_flight_finish_then_commits() {
    let TestServer { router, state, dir } = Setup::default().start();
    let server = TestServer { router, state: state.clone(), dir };
    server.call(Method::PUT, "/v1/collections/docs", None, None).await.expect(201);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
    let addr = listener.local_addr().expect("address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(tamis_server::serve(listener, state.clone(), async {
        let _ = stopped.await;
    }));

    // A request whose body is half sent when shutdown begins.
    let body =
        json!({ "documents": [{ "id": "late", "text": "written during shutdown" }] }).to_string();
    let (head, tail) = body.split_at(body.len() / 2);
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request_head = format!(
        "POST /v1/collections/docs/documents HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(request_head.as_bytes()).await.expect("write head");
    stream.write_all(head.as_bytes()).await.expect("write half");
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.send(()).expect("the server listens for shutdown");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(state.is_shutting_down());
    assert!(!serving.is_finished(), "the server stopped with a request in flight");

    stream.write_all(tail.as_bytes()).await.expect("write the rest");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read the response");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"written\":1"), "{response}");

    tokio::time::timeout(Duration::from_secs(10), serving)
        .await
        .expect("the server stops once the request is answered")
        .expect("task")
        .expect("a clean stop");
    assert!(TcpStream::connect(addr).await.is_err(), "still accepting connections");

    // Every handle on the state gone, the collection's files are free to reopen.
    let TestServer { router, state: server_state, dir } = server;
    drop((router, server_state, state));
    let reopened =
        tamis_server::collections::Collections::open(embedded_catalog(dir.path()), None, 10)
            .expect("reopen");
    let docs = reopened.get("docs").expect("docs");
    assert_eq!(counts(&docs.read()), (1, 1), "the late document was kept");
}
