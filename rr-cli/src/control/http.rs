//! A tiny HTTP/1.1 client for the daemon's control API: one request per connection (`Connection: close`),
//! over a unix socket or TCP, with `Content-Length`, chunked or read-to-close bodies.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

/// Largest response accepted (the route table of a big reflector fits comfortably).
const MAX_RESPONSE: usize = 256 << 20;
/// Time allowed for one request.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Where the control API listens.
#[derive(Debug, Clone)]
pub(crate) enum Endpoint {
    /// A unix socket path.
    Unix(std::path::PathBuf),
    /// A TCP `HOST:PORT`.
    Tcp(String),
}

/// A response: status code and body.
#[derive(Debug)]
pub(crate) struct Response {
    /// HTTP status code.
    pub(crate) status: u16,
    /// Body bytes (decoded from chunked transfer encoding when needed).
    pub(crate) body: Vec<u8>,
}

/// Sends `method path` (with `Authorization: Bearer token` when given) and returns the response.
pub(crate) async fn request(
    ep: &Endpoint,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> anyhow::Result<Response> {
    tokio::time::timeout(TIMEOUT, async {
        match ep {
            Endpoint::Unix(p) => {
                let s = tokio::net::UnixStream::connect(p)
                    .await
                    .with_context(|| connect_hint(p))?;
                exchange(s, method, path, "localhost", token).await
            }
            Endpoint::Tcp(a) => {
                let s = tokio::net::TcpStream::connect(a.as_str())
                    .await
                    .with_context(|| format!("connecting to the control API at {a}"))?;
                exchange(s, method, path, a, token).await
            }
        }
    })
    .await
    .map_err(|_| anyhow!("the control API did not answer within {} s", TIMEOUT.as_secs()))?
}

fn connect_hint(p: &Path) -> String {
    format!(
        "connecting to the control API at {} (is rr-daemon running? --socket must match its --control-socket)",
        p.display()
    )
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    method: &str,
    path: &str,
    host: &str,
    token: Option<&str>,
) -> anyhow::Result<Response> {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.context("sending the request")?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = s.read(&mut buf).await.context("reading the response")?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        if raw.len() > MAX_RESPONSE {
            bail!("response larger than {MAX_RESPONSE} bytes");
        }
        if let Some(done) = complete(&raw) {
            raw.truncate(done);
            break;
        }
    }
    parse(&raw)
}

/// The header block's end (index after `\r\n\r\n`).
fn header_end(raw: &[u8]) -> Option<usize> {
    raw.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// The length of a complete `Content-Length` response, so we need not wait for the close.
fn complete(raw: &[u8]) -> Option<usize> {
    let end = header_end(raw)?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let len = header(head, "content-length")?.parse::<usize>().ok()?;
    (raw.len() >= end + len).then_some(end + len)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

/// Parses a full HTTP/1.x response.
pub(crate) fn parse(raw: &[u8]) -> anyhow::Result<Response> {
    let end = header_end(raw).ok_or_else(|| anyhow!("truncated HTTP response ({} bytes)", raw.len()))?;
    let head = std::str::from_utf8(&raw[..end]).context("HTTP header is not UTF-8")?;
    let status_line = head.lines().next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .filter(|_| status_line.starts_with("HTTP/1."))
        .ok_or_else(|| anyhow!("not an HTTP response: {status_line:?}"))?;
    let rest = &raw[end..];
    let body = if header(head, "transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        dechunk(rest)?
    } else if let Some(len) = header(head, "content-length") {
        let len: usize = len.parse().map_err(|_| anyhow!("bad Content-Length {len:?}"))?;
        rest.get(..len)
            .ok_or_else(|| anyhow!("truncated body: {} of {len} bytes", rest.len()))?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Response { status, body })
}

fn dechunk(mut data: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| anyhow!("truncated chunk header"))?;
        let size_text = std::str::from_utf8(&data[..line_end]).context("chunk size")?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size =
            usize::from_str_radix(size_text, 16).map_err(|_| anyhow!("bad chunk size {size_text:?}"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = data.get(..size).ok_or_else(|| anyhow!("truncated chunk"))?;
        out.extend_from_slice(chunk);
        data = data.get(size + 2..).ok_or_else(|| anyhow!("truncated chunk"))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_and_chunked_bodies() {
        let r = parse(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}extra").expect("parse");
        assert_eq!((r.status, r.body.as_slice()), (200, &b"{}"[..]));
        let r = parse(b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x\r\nde\r\n0\r\n\r\n")
            .expect("parse");
        assert_eq!((r.status, r.body.as_slice()), (400, &b"abcde"[..]));
        assert!(parse(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nab").is_err());
        assert!(parse(b"SSH-2.0\r\n\r\n").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n").is_err());
        assert_eq!(
            complete(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"),
            Some(39)
        );
    }
}
