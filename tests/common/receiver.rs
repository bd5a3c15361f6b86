//! A webhook receiver on 127.0.0.1 for the tests (a lender's system, a texting tool): it keeps every request's
//! headers and body, and answers 500 to the first `failures` requests and 200 afterwards.

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};

/// What the receiver got, in order: each request's headers and body.
pub type Received = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

/// Starts the receiver on `/hook`; its port and what it receives.
pub async fn start(failures: usize) -> (u16, Received) {
    let got: Received = Arc::default();
    let g = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let g = g.clone();
            async move {
                let mut list = g.lock().unwrap();
                list.push((headers, body.to_vec()));
                if list.len() <= failures { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (port, got)
}
