//! The network guard of the browser engine: a forwarding proxy on 127.0.0.1 through which
//! every request of a scanned page goes (Chromium is told to bypass it for nothing, loopback
//! included). Each host is resolved and checked by [`guard`](crate::guard) and the proxy
//! connects to the very address it checked, so a page can neither reach a refused address
//! nor rebind a name between the check and the connection. `CONNECT` tunnels carry https;
//! absolute-form requests carry http. A refused host is answered 403 and remembered, so the
//! engine can say why a page failed.
use crate::guard;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The longest request head the proxy reads.
const MAX_HEAD: usize = 64 * 1024;

/// What the proxy of one scan lets through.
#[derive(Debug, Clone)]
pub struct Rules {
    pub allow_private: bool,
    pub exempt: Vec<IpAddr>,
    /// Bytes one connection may bring back from the site (a response, or a tunnel's
    /// responses) before it is cut.
    pub max_bytes: usize,
    pub connect_timeout: Duration,
}

/// A running proxy; it stops when dropped.
#[derive(Debug)]
pub struct Proxy {
    pub addr: SocketAddr,
    refusals: Arc<Mutex<HashMap<String, String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// Starts a proxy on 127.0.0.1, port chosen by the system.
    pub async fn start(rules: Rules) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let refusals: Arc<Mutex<HashMap<String, String>>> = Arc::default();
        let log = refusals.clone();
        let rules = Arc::new(rules);
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (rules, log) = (rules.clone(), log.clone());
                conns.spawn(async move {
                    if let Err(e) = serve(stream, &rules, &log).await {
                        tracing::debug!(error = %e, "scan proxy connection ended");
                    }
                });
                while conns.try_join_next().is_some() {}
            }
        });
        Ok(Proxy {
            addr,
            refusals,
            task,
        })
    }

    /// Why the proxy refused `host` (a host name or address, without port), if it did.
    pub fn refusal(&self, host: &str) -> Option<String> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.refusals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&host.to_ascii_lowercase())
            .cloned()
    }
}

/// Resolves `host` and checks every address; the addresses to connect to.
async fn resolve(host: &str, port: u16, rules: &Rules) -> Result<Vec<SocketAddr>, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((bare, port))
            .await
            .map_err(|e| format!("{bare} could not be resolved: {e}"))?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(format!("{bare} has no address"));
    }
    for a in &addrs {
        guard::check_with(bare, a.ip(), rules.allow_private, &rules.exempt).map_err(|r| r.0)?;
    }
    Ok(addrs)
}

async fn connect(addrs: &[SocketAddr], rules: &Rules) -> Result<TcpStream, String> {
    let mut last = String::from("no address");
    for a in addrs {
        match tokio::time::timeout(rules.connect_timeout, TcpStream::connect(a)).await {
            Ok(Ok(s)) => return Ok(s),
            Ok(Err(e)) => last = e.to_string(),
            Err(_) => last = "timed out".into(),
        }
    }
    Err(format!("could not connect: {last}"))
}

/// Splits `host[:port]` (IPv6 in brackets).
fn split_authority(authority: &str, default_port: u16) -> Option<(String, u16)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None => default_port,
        };
        return Some((format!("[{host}]"), port));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) => Some((h.to_string(), p.parse().ok()?)),
        None => Some((authority.to_string(), default_port)),
    }
}

async fn refuse(mut client: TcpStream, why: &str) -> std::io::Result<()> {
    let body = format!("refused by the scan's network guard: {why}");
    let head = format!(
        "HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    client.write_all(head.as_bytes()).await?;
    client.write_all(body.as_bytes()).await?;
    client.shutdown().await
}

/// Copies bytes both ways until either side ends, the site's side bounded to `max` bytes.
async fn relay(client: TcpStream, upstream: TcpStream, max: usize) -> std::io::Result<()> {
    let (mut cr, mut cw) = client.into_split();
    let (mut ur, mut uw) = upstream.into_split();
    let up = async {
        let _ = tokio::io::copy(&mut cr, &mut uw).await;
        let _ = uw.shutdown().await;
        // The client's half is done: the answer may still be coming.
        std::future::pending::<()>().await
    };
    let down = async {
        let mut limited = (&mut ur).take(max as u64 + 1);
        let r = tokio::io::copy(&mut limited, &mut cw).await;
        let _ = cw.shutdown().await;
        r
    };
    tokio::select! {
        r = down => r.map(|_| ()),
        () = up => Ok(()),
    }
}

async fn serve(
    mut client: TcpStream,
    rules: &Rules,
    refusals: &Mutex<HashMap<String, String>>,
) -> std::io::Result<()> {
    // The request head, as sent by Chromium.
    let mut head = Vec::with_capacity(2048);
    let mut buf = [0u8; 4096];
    let end = loop {
        let n = client.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if head.len() > MAX_HEAD {
            return refuse(client, "request head too large").await;
        }
    };
    let text = String::from_utf8_lossy(&head[..end]).into_owned();
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (method, target, version) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or("HTTP/1.1"),
    );
    let tunnel = method.eq_ignore_ascii_case("CONNECT");
    let (host, port, path) = if tunnel {
        match split_authority(target, 443) {
            Some((h, p)) => (h, p, String::new()),
            None => return refuse(client, "bad CONNECT target").await,
        }
    } else {
        let Ok(url) = url::Url::parse(target) else {
            return refuse(client, "only absolute http URLs are forwarded").await;
        };
        if url.scheme() != "http" {
            return refuse(client, "only http and https are fetched").await;
        }
        let Some(host) = url.host_str() else {
            return refuse(client, "no host").await;
        };
        let mut path = url.path().to_string();
        if let Some(q) = url.query() {
            path.push('?');
            path.push_str(q);
        }
        (
            host.to_string(),
            url.port_or_known_default().unwrap_or(80),
            path,
        )
    };
    let key = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let addrs = match resolve(&host, port, rules).await {
        Ok(a) => a,
        Err(why) => {
            refusals
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key, why.clone());
            return refuse(client, &why).await;
        }
    };
    let mut upstream = match connect(&addrs, rules).await {
        Ok(s) => s,
        Err(why) => {
            let msg = format!(
                "HTTP/1.1 502 Bad Gateway\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{why}",
                why.len()
            );
            client.write_all(msg.as_bytes()).await?;
            return Ok(());
        }
    };
    if tunnel {
        client
            .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .await?;
        // Bytes Chromium sent after the head already belong to the tunnel.
        upstream.write_all(&head[end..]).await?;
    } else {
        // The request in origin form, on a connection used for this request only.
        let mut out = format!("{method} {path} {version}\r\n");
        for line in lines.filter(|l| !l.is_empty()) {
            let name = line.split(':').next().unwrap_or_default().trim();
            if name.eq_ignore_ascii_case("proxy-connection")
                || name.eq_ignore_ascii_case("connection")
                || name.eq_ignore_ascii_case("keep-alive")
                || name.eq_ignore_ascii_case("proxy-authorization")
            {
                continue;
            }
            out.push_str(line);
            out.push_str("\r\n");
        }
        out.push_str("connection: close\r\n\r\n");
        upstream.write_all(out.as_bytes()).await?;
        upstream.write_all(&head[end..]).await?;
    }
    relay(client, upstream, rules.max_bytes + MAX_HEAD).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities_split_into_host_and_port() {
        assert_eq!(
            split_authority("example.com:8443", 443),
            Some(("example.com".into(), 8443))
        );
        assert_eq!(
            split_authority("example.com", 443),
            Some(("example.com".into(), 443))
        );
        assert_eq!(split_authority("[::1]:80", 443), Some(("[::1]".into(), 80)));
        assert_eq!(split_authority("[::1]", 443), Some(("[::1]".into(), 443)));
        assert_eq!(split_authority("x:notaport", 443), None);
    }
}
