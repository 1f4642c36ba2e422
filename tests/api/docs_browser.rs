//! `/docs` in a real browser: headless Chromium (Debian's `chromium`, installed by
//! scripts/deps; `HOODY_CHROMIUM` names another binary) driven over the DevTools protocol.
//! The operation list renders, an operation's schema shows, and try-it-out calls reach this
//! server: a public one, then one with a bearer token typed into "Authorize". Nothing the page
//! does may break its CSP. A screenshot is left in `target/artifacts/docs.png`.

use std::{
    path::PathBuf,
    process::Stdio,
    time::{Duration, Instant},
};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    net::TcpStream,
    process::{Child, Command},
};
use tokio_tungstenite::{tungstenite::Message, MaybeTlsStream, WebSocketStream};

use crate::harness::TestApp;

/// One page of a headless Chromium, and what its console and log reported.
struct Browser {
    child: Child,
    profile: PathBuf,
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    log: Vec<String>,
}

impl Browser {
    async fn launch() -> Self {
        let bin = std::env::var("HOODY_CHROMIUM").unwrap_or_else(|_| "chromium".into());
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let profile = std::env::temp_dir().join(format!("hoody-chromium-{}-{nanos}", std::process::id()));
        let mut child = Command::new(&bin)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--disable-background-networking",
                "--remote-debugging-port=0",
                "--window-size=1280,1600",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin} ({e}): scripts/deps installs Debian's chromium"));
        // "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/…" names the port.
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let port = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(rest) = line.split("ws://127.0.0.1:").nth(1) {
                    return rest.split('/').next().unwrap().to_owned();
                }
            }
            panic!("chromium exited before it listened");
        })
        .await
        .expect("chromium did not open its DevTools port within 30 s");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let targets: Value =
            reqwest::get(format!("http://127.0.0.1:{port}/json/list")).await.unwrap().json().await.unwrap();
        let page = targets.as_array().unwrap().iter().find(|t| t["type"] == "page").expect("a page target");
        let (ws, _) = tokio_tungstenite::connect_async(page["webSocketDebuggerUrl"].as_str().unwrap()).await.unwrap();
        let mut b = Browser { child, profile, ws, next_id: 0, log: Vec::new() };
        b.call("Runtime.enable", json!({})).await;
        b.call("Log.enable", json!({})).await;
        b.call("Page.enable", json!({})).await;
        b
    }

    /// One DevTools command; events read meanwhile are kept in `log` when they are messages.
    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let msg = json!({"id": id, "method": method, "params": params}).to_string();
        self.ws.send(Message::text(msg)).await.unwrap();
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(30), self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("{method}: no answer in 30 s"))
                .expect("the DevTools socket closed")
                .unwrap();
            let Message::Text(text) = frame else { continue };
            let v: Value = serde_json::from_str(&text).unwrap();
            if v["id"] == id {
                assert!(v["error"].is_null(), "{method}: {}", v["error"]);
                return v["result"].clone();
            }
            match v["method"].as_str() {
                Some("Log.entryAdded") => self.log.push(format!(
                    "{} {}: {}",
                    v["params"]["entry"]["level"], v["params"]["entry"]["source"], v["params"]["entry"]["text"]
                )),
                Some("Runtime.consoleAPICalled") if v["params"]["type"] == "error" => {
                    self.log.push(format!("console.error {}", v["params"]["args"]))
                }
                Some("Runtime.exceptionThrown") => {
                    self.log.push(format!("exception {}", v["params"]["exceptionDetails"]))
                }
                _ => {}
            }
        }
    }

    /// The value of a JavaScript expression in the page.
    async fn eval(&mut self, expr: &str) -> Value {
        let r = self.call("Runtime.evaluate", json!({"expression": expr, "returnByValue": true})).await;
        assert!(r["exceptionDetails"].is_null(), "{expr}: {}", r["exceptionDetails"]);
        r["result"]["value"].clone()
    }

    /// Polls `expr` until it is `true`, for up to `secs`.
    async fn wait_for(&mut self, expr: &str, secs: u64, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while self.eval(expr).await != json!(true) {
            if Instant::now() > deadline {
                let body = self.eval("document.querySelectorAll('.opblock').length + ' blocks; ' + document.body.innerText.slice(-1500)").await;
                panic!("{what}: not within {secs} s; log: {:?}\npage: {body}", self.log);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn click(&mut self, selector: &str) {
        let sel = serde_json::to_string(selector).unwrap();
        let found = self
            .eval(&format!("(e => e ? (e.scrollIntoView(), e.click(), true) : false)(document.querySelector({sel}))"))
            .await;
        assert_eq!(found, json!(true), "nothing to click at {selector}; log: {:?}", self.log);
    }

    /// Replaces what the filter box holds, as a user typing.
    async fn filter(&mut self, text: &str) {
        let focused = self.eval("(e => e ? (e.focus(), e.select(), true) : false)(document.querySelector('input.operation-filter-input'))").await;
        assert_eq!(focused, json!(true), "the filter box");
        self.call("Input.insertText", json!({"text": text})).await;
    }

    /// Types into the element as a user would (focus, then text input events).
    async fn type_into(&mut self, selector: &str, text: &str) {
        let sel = serde_json::to_string(selector).unwrap();
        assert_eq!(
            self.eval(&format!("(e => e ? (e.focus(), true) : false)(document.querySelector({sel}))")).await,
            json!(true),
            "{selector}"
        );
        self.call("Input.insertText", json!({"text": text})).await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// The `opblock` of one operation (Swagger UI's id: `operations-{tag}-{operationId}`).
fn op(tag: &str, operation_id: &str) -> String {
    format!("#operations-{tag}-{operation_id}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_page_renders_and_tries_calls_in_a_real_browser() {
    let app = TestApp::spawn().await;
    let session = app.verified_user("docs-reader@example.com").await;
    let doc: Value = serde_json::from_str(&hoody_api::openapi::document_json()).unwrap();
    let operations: usize =
        doc["paths"].as_object().unwrap().values().map(|item| item.as_object().unwrap().len()).sum();

    let mut b = Browser::launch().await;
    b.call("Page.navigate", json!({"url": format!("{}/docs", app.base)})).await;

    // Swagger UI read every operation of the document, and lists them (it renders the part of
    // the list in view); the filter box narrows the list by path, summary or tag.
    let count = format!("window.ui?.specSelectors?.operations?.().size === {operations}");
    b.wait_for(&count, 60, &format!("{operations} operations read")).await;
    b.wait_for("document.querySelectorAll('.opblock').length > 10", 30, "the operation list").await;
    b.filter("/api/v1/meta/public-key").await;
    b.wait_for("document.querySelectorAll('.opblock').length === 1", 20, "one operation left by the filter").await;

    // One operation opened: its response schema shows the public key's fields.
    let public_key = op("meta", "get_public_key");
    b.click(&format!("{public_key} .opblock-summary-control")).await;
    b.wait_for(&format!("!!document.querySelector('{public_key} .responses-wrapper')"), 20, "the operation opens")
        .await;
    b.click(&format!("{public_key} .responses-wrapper button[data-name=model]")).await;
    b.wait_for(
        &format!("(document.querySelector('{public_key} .responses-wrapper .model-box') || {{}}).innerText?.includes('Envelope_PublicKeysOut') === true"),
        20,
        "the response schema",
    )
    .await;

    // Try it out against this server: a 200, with the server's own key in the body.
    b.click(&format!("{public_key} .try-out__btn")).await;
    b.click(&format!("{public_key} .execute")).await;
    let status =
        format!("document.querySelector('{public_key} .live-responses-table .response .response-col_status')?.innerText?.trim()");
    b.wait_for(&format!("{status} === '200'"), 30, "try-it-out of the public key").await;
    let shown = b
        .eval(&format!(
            "document.querySelector('{public_key} .live-responses-table .response .response-col_description').innerText"
        ))
        .await;
    let key =
        app.get("/api/v1/meta/public-key", None).await.data()["keys"][0]["public_key_hex"].as_str().unwrap().to_owned();
    assert!(shown.as_str().unwrap().contains(&key), "the page shows the server's answer: {shown}");

    // A bearer token typed into "Authorize" goes with the calls that need one.
    b.click(".auth-wrapper .authorize").await;
    b.wait_for("!!document.querySelector('.auth-container input')", 10, "the authorize dialog").await;
    b.type_into(".auth-container input", &session.token).await;
    b.click(".auth-btn-wrapper .authorize").await;
    b.click(".auth-btn-wrapper .btn-done").await;
    b.filter("get auth/me current user").await;
    let me = op("authentication", "get_current_user");
    b.wait_for(&format!("!!document.querySelector('{me}')"), 20, "the me operation listed").await;
    b.click(&format!("{me} .opblock-summary-control")).await;
    b.wait_for(&format!("!!document.querySelector('{me} .try-out__btn')"), 20, "the me operation opens").await;
    b.click(&format!("{me} .try-out__btn")).await;
    b.click(&format!("{me} .execute")).await;
    let status = format!(
        "document.querySelector('{me} .live-responses-table .response .response-col_status')?.innerText?.trim()"
    );
    b.wait_for(&format!("{status} === '200'"), 30, "try-it-out with the typed token").await;
    let shown = b
        .eval(&format!(
            "document.querySelector('{me} .live-responses-table .response .response-col_description').innerText"
        ))
        .await;
    assert!(shown.as_str().unwrap().contains("docs-reader@example.com"), "{shown}");

    let shot = b.call("Page.captureScreenshot", json!({"format": "png"})).await;
    let png =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, shot["data"].as_str().unwrap()).unwrap();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("docs.png"), &png).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");

    // Nothing was refused by the page's CSP, and nothing failed to load.
    let _ = b.eval("0").await; // reads events that arrived since the last command
    let problems: Vec<&String> =
        b.log.iter().filter(|l| l.contains("Content Security Policy") || l.contains("Failed to load")).collect();
    assert!(problems.is_empty(), "{problems:?}");
}
