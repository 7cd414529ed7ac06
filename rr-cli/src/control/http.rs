//! The HTTP client of the control API: hyper's HTTP/1.1 client connection over a tokio unix socket or TCP
//! stream, one request per connection, with a time limit and a cap on the answer's size.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper::client::conn::http1;
use hyper::{Method, Request, header};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

/// Largest response accepted (a page of 10000 routes fits comfortably).
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
    /// Body bytes.
    pub(crate) body: Bytes,
}

/// Sends `method path` (with `Authorization: Bearer token` when given) and returns the response.
pub(crate) async fn request(
    ep: &Endpoint,
    method: Method,
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

/// One request on a fresh connection.
async fn exchange<S>(
    stream: S,
    method: Method,
    path: &str,
    host: &str,
    token: Option<&str>,
) -> anyhow::Result<Response>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .context("talking to the control API")?;
    // The connection is driven beside the request; it ends when the answer has been read.
    let driver = tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, host)
        .header(header::ACCEPT, "application/json");
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let req = req
        .body(Empty::<Bytes>::new())
        .map_err(|e| anyhow!("building the request: {e}"))?;
    let resp = sender
        .send_request(req)
        .await
        .context("the control API closed the connection without an answer")?;
    let status = resp.status().as_u16();
    let body = match Limited::new(resp.into_body(), MAX_RESPONSE).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            bail!("the control API's answer is larger than {MAX_RESPONSE} bytes")
        }
        Err(e) => bail!("reading the control API's answer: {e}"),
    };
    drop(sender);
    driver.abort();
    Ok(Response { status, body })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// A one-shot server on a unix socket that answers `reply` to the first request and returns that request.
    async fn serve_once(
        reply: &'static [u8],
    ) -> (Endpoint, tokio::task::JoinHandle<String>, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s");
        let l = tokio::net::UnixListener::bind(&path).expect("bind");
        let task = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.expect("accept");
            let mut buf = Vec::new();
            let mut chunk = [0u8; 1024];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut chunk).await.expect("read");
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            s.write_all(reply).await.expect("write");
            let _ = s.shutdown().await;
            String::from_utf8_lossy(&buf).into_owned()
        });
        (Endpoint::Unix(path), task, dir)
    }

    #[tokio::test]
    async fn content_length_and_chunked_answers() {
        let (ep, srv, _dir) = serve_once(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}").await;
        let r = request(&ep, Method::GET, "/status", Some("tok"))
            .await
            .expect("request");
        assert_eq!((r.status, &r.body[..]), (200, &b"{}"[..]));
        let sent = srv.await.expect("server");
        assert!(sent.starts_with("GET /status HTTP/1.1\r\n"), "{sent}");
        assert!(
            sent.to_ascii_lowercase().contains("authorization: bearer tok"),
            "{sent}"
        );

        let (ep, _srv, _dir) = serve_once(
            b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .await;
        let r = request(&ep, Method::POST, "/x", None).await.expect("request");
        assert_eq!((r.status, &r.body[..]), (400, &b"abcde"[..]));
    }

    #[tokio::test]
    async fn broken_answers_are_errors() {
        let (ep, _srv, _dir) = serve_once(b"SSH-2.0-OpenSSH\r\n\r\n").await;
        assert!(request(&ep, Method::GET, "/status", None).await.is_err());
        let (ep, _srv, _dir) = serve_once(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nab").await;
        assert!(request(&ep, Method::GET, "/status", None).await.is_err());
        let missing = Endpoint::Unix("/nonexistent/rr-daemon.sock".into());
        let e = request(&missing, Method::GET, "/status", None)
            .await
            .expect_err("no daemon");
        assert!(format!("{e:#}").contains("is rr-daemon running?"), "{e:#}");
    }
}
