//! A minimal HTTP/1.1 keep-alive client over one TCP connection.
//!
//! The load generator runs on a single core while the server runs on the other, so the
//! client has to cost far less per request than the cheapest server endpoint, or the
//! health baseline would measure the client. Building the request bytes once and parsing
//! only the status line, `content-length`, `transfer-encoding` and `connection` keeps it
//! well below a general-purpose client.
use anyhow::{bail, Context, Result};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One response: the status and, when asked for, the body.
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// A kept-alive connection; reconnects transparently after the server closes it.
pub struct Conn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

/// The bytes of one request with the headers every benchmark request carries.
pub fn request(method: &str, path: &str, api_key: Option<&str>, body: Option<&str>) -> Vec<u8> {
    let mut r =
        format!("{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\naccept: application/json\r\n");
    if let Some(k) = api_key {
        r.push_str("x-api-key: ");
        r.push_str(k);
        r.push_str("\r\n");
    }
    match body {
        Some(b) => {
            r.push_str("content-type: application/json\r\ncontent-length: ");
            r.push_str(&b.len().to_string());
            r.push_str("\r\n\r\n");
            r.push_str(b);
        }
        None => r.push_str("\r\n"),
    }
    r.into_bytes()
}

impl Conn {
    pub fn new(addr: SocketAddr) -> Conn {
        Conn {
            addr,
            stream: None,
            buf: Vec::with_capacity(16 * 1024),
        }
    }

    /// Sends `req` (from [`request`]) and reads the whole response. The body is kept only
    /// when `keep_body` is set; it is always read so the connection stays usable.
    pub async fn send(&mut self, req: &[u8], keep_body: bool) -> Result<Response> {
        if self.stream.is_none() {
            let s = TcpStream::connect(self.addr)
                .await
                .with_context(|| format!("connect {}", self.addr))?;
            s.set_nodelay(true)?;
            self.stream = Some(s);
            self.buf.clear();
        }
        let result = self.exchange(req, keep_body).await;
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    async fn exchange(&mut self, req: &[u8], keep_body: bool) -> Result<Response> {
        let Some(stream) = self.stream.as_mut() else {
            bail!("not connected");
        };
        stream.write_all(req).await?;
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            fill(stream, &mut self.buf).await?;
        };
        let head = std::str::from_utf8(&self.buf[..head_end]).context("response head")?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("bad status line {status_line:?}"))?;
        let mut length: Option<usize> = None;
        let mut chunked = false;
        let mut close = false;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.parse().context("content-length")?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.to_ascii_lowercase().contains("chunked");
            } else if name.eq_ignore_ascii_case("connection") {
                close = value.eq_ignore_ascii_case("close");
            }
        }
        self.buf.drain(..head_end);
        let body = if chunked {
            read_chunked(stream, &mut self.buf, keep_body).await?
        } else {
            let n = length.unwrap_or(0);
            while self.buf.len() < n {
                fill(stream, &mut self.buf).await?;
            }
            let body = if keep_body {
                self.buf[..n].to_vec()
            } else {
                Vec::new()
            };
            self.buf.drain(..n);
            body
        };
        if close {
            self.stream = None;
        }
        Ok(Response { status, body })
    }
}

async fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<()> {
    buf.reserve(8 * 1024);
    if stream.read_buf(buf).await? == 0 {
        bail!("connection closed by server");
    }
    Ok(())
}

async fn read_chunked(stream: &mut TcpStream, buf: &mut Vec<u8>, keep: bool) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = loop {
            if let Some(i) = find(buf, b"\r\n") {
                break i;
            }
            fill(stream, buf).await?;
        };
        let size_text = std::str::from_utf8(&buf[..line_end])?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .context("chunk size")?;
        buf.drain(..line_end + 2);
        if size == 0 {
            // Trailers (none expected) end with an empty line.
            loop {
                if let Some(i) = find(buf, b"\r\n") {
                    buf.drain(..i + 2);
                    if i == 0 {
                        return Ok(body);
                    }
                    continue;
                }
                fill(stream, buf).await?;
            }
        }
        while buf.len() < size + 2 {
            fill(stream, buf).await?;
        }
        if keep {
            body.extend_from_slice(&buf[..size]);
        }
        buf.drain(..size + 2);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
