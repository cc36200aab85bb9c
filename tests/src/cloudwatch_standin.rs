//! A loopback server standing where CloudWatch is for `GetMetricWidgetImage`, which moto does not
//! implement: the Query protocol the pinned `aws-sdk-cloudwatch` speaks (a form-encoded POST with
//! `Action` and `Version`, an XML answer with the image in base64, XML errors), a real PNG drawn from
//! the widget, every `MetricWidget` recorded, and failures as scripted: an error code, a stall.
//!
//! Like CloudWatch, it refuses a widget without metrics or region, and a metric of another account
//! (`accountId`) unless that account is linked (cross-account observability).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use serde_json::Value;

/// A scripted answer for the next call.
#[derive(Clone, Debug)]
pub enum WidgetReply {
    /// An error answer: HTTP status and code (`ThrottlingException` 400, `InternalServiceError` 500).
    Error(u16, &'static str),
    /// No answer for this long (then a normal one).
    Stall(Duration),
}

#[derive(Default)]
struct Inner {
    widgets: Vec<Value>,
    script: VecDeque<WidgetReply>,
    always: Option<WidgetReply>,
    linked: Vec<String>,
    other_calls: Vec<String>,
}

#[derive(Clone)]
pub struct CloudWatchStandIn {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl CloudWatchStandIn {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let standin = Self { addr, inner: Arc::default() };
        let app = Router::new().route("/", post(handle)).with_state(standin.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        standin
    }

    /// The `AWS_ENDPOINT_URL_CLOUDWATCH` to configure.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every `MetricWidget` asked for, parsed.
    pub fn widgets(&self) -> Vec<Value> {
        self.inner.lock().unwrap().widgets.clone()
    }

    /// Actions other than `GetMetricWidgetImage` that reached it (none should).
    pub fn other_calls(&self) -> Vec<String> {
        self.inner.lock().unwrap().other_calls.clone()
    }

    pub fn script(&self, replies: impl IntoIterator<Item = WidgetReply>) {
        self.inner.lock().unwrap().script.extend(replies);
    }

    /// Every call gets `reply` from now on; `None` ends it.
    pub fn always(&self, reply: Option<WidgetReply>) {
        self.inner.lock().unwrap().always = reply;
    }

    /// Metrics of `account` can be drawn (this account is its monitoring account).
    pub fn link_account(&self, account: &str) {
        self.inner.lock().unwrap().linked.push(account.to_owned());
    }
}

fn xml_error(status: u16, code: &str, message: &str) -> Response {
    let body = format!(
        r#"<ErrorResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>standin-error</RequestId></ErrorResponse>"#
    );
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, [("content-type", "text/xml")], body).into_response()
}

async fn handle(State(standin): State<CloudWatchStandIn>, body: Bytes) -> Response {
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let get = |k: &str| form.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    let action = get("Action").unwrap_or_default();
    if action != "GetMetricWidgetImage" {
        standin.inner.lock().unwrap().other_calls.push(action.clone());
        return xml_error(400, "InvalidAction", &format!("{action} is not served by this stand-in"));
    }
    let scripted = {
        let mut inner = standin.inner.lock().unwrap();
        inner.script.pop_front().or_else(|| inner.always.clone())
    };
    let widget: Value = serde_json::from_str(&get("MetricWidget").unwrap_or_default()).unwrap_or(Value::Null);
    standin.inner.lock().unwrap().widgets.push(widget.clone());
    match scripted {
        Some(WidgetReply::Error(status, code)) => return xml_error(status, code, "scripted failure"),
        Some(WidgetReply::Stall(d)) => tokio::time::sleep(d).await,
        None => {}
    }
    let metrics = widget["metrics"].as_array().filter(|m| !m.is_empty());
    let Some(metrics) = metrics else {
        return xml_error(400, "InvalidParameterInput", "The widget has no metrics");
    };
    if widget["region"].as_str().is_none_or(str::is_empty) {
        return xml_error(400, "InvalidParameterInput", "The widget has no region");
    }
    // CloudWatch names statistics one way: `Average`, not SNS's `AVERAGE`.
    for metric in metrics {
        let stat = metric.as_array().and_then(|m| m.last()).and_then(|o| o["stat"].as_str());
        let known = |s: &str| {
            ["SampleCount", "Average", "Sum", "Minimum", "Maximum"].contains(&s)
                || ["p", "tm", "tc", "ts", "wm", "PR", "TM", "TC", "TS", "IQM"].iter().any(|prefix| {
                    s.strip_prefix(prefix)
                        .is_some_and(|r| r.is_empty() || r.starts_with(|c: char| c.is_ascii_digit() || c == '('))
                })
        };
        if let Some(stat) = stat
            && !known(stat)
        {
            return xml_error(400, "InvalidParameterInput", &format!("The stat {stat} is not valid"));
        }
    }
    let linked = standin.inner.lock().unwrap().linked.clone();
    for metric in metrics {
        if let Some(account) = metric.as_array().and_then(|m| m.last()).and_then(|o| o["accountId"].as_str())
            && !linked.iter().any(|l| l == account)
        {
            return xml_error(403, "AccessDenied", "This account is not a monitoring account of that source account");
        }
    }
    let threshold = widget["annotations"]["horizontal"][0]["value"].as_f64();
    let image = base64::engine::general_purpose::STANDARD.encode(graph_png(threshold.is_some()));
    let body = format!(
        r#"<GetMetricWidgetImageResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/"><GetMetricWidgetImageResult><MetricWidgetImage>{image}</MetricWidgetImage></GetMetricWidgetImageResult><ResponseMetadata><RequestId>standin-1</RequestId></ResponseMetadata></GetMetricWidgetImageResponse>"#
    );
    (StatusCode::OK, [("content-type", "text/xml")], body).into_response()
}

/// A small real PNG (greyscale, 240 × 100): a line that rises across a dashed threshold.
pub fn graph_png(with_threshold: bool) -> Vec<u8> {
    const W: usize = 240;
    const H: usize = 100;
    let mut pixels = vec![255u8; W * H];
    let y_of = |x: usize| -> usize {
        let base = 70.0 - (x as f64 / W as f64) * 10.0;
        let spike = if x > 170 { ((x - 170) as f64 * 0.8).min(50.0) } else { 0.0 };
        let wiggle = ((x as f64) * 0.35).sin() * 4.0;
        (base - spike + wiggle).clamp(2.0, (H - 3) as f64) as usize
    };
    for x in 1..W {
        let (a, b) = (y_of(x - 1), y_of(x));
        for y in a.min(b)..=a.max(b) {
            pixels[y * W + x] = 0;
        }
    }
    if with_threshold {
        for x in (0..W).filter(|x| x % 6 < 4) {
            pixels[40 * W + x] = 120;
        }
    }
    png(W as u32, H as u32, &pixels)
}

/// Encodes greyscale `pixels` as a PNG with stored (uncompressed) deflate blocks.
fn png(width: u32, height: u32, pixels: &[u8]) -> Vec<u8> {
    let mut raw = Vec::new();
    for row in pixels.chunks(width as usize) {
        raw.push(0u8); // filter: none
        raw.extend_from_slice(row);
    }
    let mut zlib = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        zlib.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        zlib.extend_from_slice(&len.to_le_bytes());
        zlib.extend_from_slice(&(!len).to_le_bytes());
        zlib.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for byte in &raw {
        a = (a + u32::from(*byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    zlib.extend_from_slice(&((b << 16) | a).to_be_bytes());
    let mut out = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]); // 8-bit greyscale
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &zlib);
    chunk(&mut out, b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = 0xFFFF_FFFFu32;
    for byte in kind.iter().chain(data) {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    out.extend_from_slice(&(!crc).to_be_bytes());
}

/// The width and height of a PNG, when `bytes` is one.
pub fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    if bytes.len() < 24 || &bytes[..8] != b"\x89PNG\r\n\x1a\n" || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let w = u32::from_be_bytes(bytes[16..20].try_into().ok()?);
    let h = u32::from_be_bytes(bytes[20..24].try_into().ok()?);
    Some((w, h))
}
