//! Every log line written while a request is handled carries its request id (issue 13). A
//! binary of its own: tracing caches which callsites are enabled process-wide, so a
//! subscriber set for one test among many running in parallel can miss the request's span.

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;

use helpers::TestApp;

/// Log output kept in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut out) = self.0.lock() {
            out.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("logs")).into_owned()
    }
}

#[tokio::test]
async fn a_requests_log_lines_carry_its_request_id() {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_ansi(false)
        .with_env_filter("info")
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
    let app = TestApp::spawn().await;
    // A cross-site post: refused, and the refusal is logged inside the request.
    let response = app
        .http
        .post(app.url("/api/service-users"))
        .header("origin", "https://elsewhere.example")
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("post");
    let id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-request-id")
        .to_owned();
    let text = logs.text();
    let line = text
        .lines()
        .find(|l| l.contains("cross-site request refused"))
        .unwrap_or_else(|| panic!("no refusal logged:\n{text}"));
    assert!(line.contains(&format!("request_id={id}")), "{line}");
    assert!(line.contains("path=/api/service-users"), "{line}");
}
