//! Closed-loop load: N connections, each sending its next request as soon as the previous
//! answer arrived, for a fixed time; latencies are kept per request.
use crate::http::{Conn, Response};
use anyhow::{bail, Result};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What one run measured.
pub struct Outcome {
    /// Requests answered with the expected status.
    pub ok: u64,
    /// Wrong statuses and transport errors.
    pub errors: u64,
    pub elapsed: Duration,
    /// Latencies of the successful requests, microseconds, sorted.
    pub latencies_us: Vec<u64>,
    /// The first unexpected answer, for the error message.
    pub first_error: Option<String>,
}

impl Outcome {
    pub fn rps(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }
    pub fn p50_ms(&self) -> f64 {
        percentile_ms(&self.latencies_us, 50.0)
    }
    pub fn p99_ms(&self) -> f64 {
        percentile_ms(&self.latencies_us, 99.0)
    }
    pub fn max_ms(&self) -> f64 {
        self.latencies_us.last().map_or(0.0, |v| *v as f64 / 1000.0)
    }
}

/// Nearest-rank percentile of sorted microsecond samples, in milliseconds.
pub fn percentile_ms(sorted_us: &[u64], pct: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((pct / 100.0) * sorted_us.len() as f64).ceil() as usize;
    let i = rank.clamp(1, sorted_us.len()) - 1;
    sorted_us[i] as f64 / 1000.0
}

/// Builds the bytes of request number `seq` of worker `worker`.
pub type MakeRequest = Arc<dyn Fn(usize, u64) -> Vec<u8> + Send + Sync>;

/// Runs `connections` workers for `duration`, each in a loop.
pub async fn closed_loop(
    addr: SocketAddr,
    connections: usize,
    duration: Duration,
    expect: u16,
    make: MakeRequest,
) -> Result<Outcome> {
    let start = Instant::now();
    let deadline = start + duration;
    let mut handles = Vec::with_capacity(connections);
    for worker in 0..connections {
        let make = make.clone();
        handles.push(tokio::spawn(async move {
            let mut conn = Conn::new(addr);
            let mut lat = Vec::with_capacity(1 << 16);
            let mut errors = 0u64;
            let mut first_error = None;
            let mut seq = 0u64;
            while Instant::now() < deadline {
                let req = make(worker, seq);
                seq += 1;
                let t0 = Instant::now();
                match conn.send(&req, false).await {
                    Ok(Response { status, .. }) if status == expect => {
                        lat.push(t0.elapsed().as_micros() as u64);
                    }
                    Ok(Response { status, .. }) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| format!("status {status}"));
                    }
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| format!("{e:#}"));
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            (lat, errors, first_error)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    for h in handles {
        let (lat, e, fe) = h.await?;
        all.extend(lat);
        errors += e;
        if first_error.is_none() {
            first_error = fe;
        }
    }
    let elapsed = start.elapsed();
    all.sort_unstable();
    Ok(Outcome {
        ok: all.len() as u64,
        errors,
        elapsed,
        latencies_us: all,
        first_error,
    })
}

/// Sends the same request `count` times over `clients` connections (or until `cap` has
/// passed), after `warmup` unmeasured requests; returns the outcome and the body of the
/// first answer.
pub async fn repeated(
    addr: SocketAddr,
    req: Vec<u8>,
    clients: usize,
    count: usize,
    warmup: usize,
    cap: Duration,
) -> Result<(Outcome, Vec<u8>)> {
    let mut conn = Conn::new(addr);
    let first = conn.send(&req, true).await?;
    if first.status != 200 {
        bail!(
            "status {}: {}",
            first.status,
            String::from_utf8_lossy(&first.body)
        );
    }
    for _ in 0..warmup {
        conn.send(&req, false).await?;
    }
    let req = Arc::new(req);
    let start = Instant::now();
    let deadline = start + cap;
    let per_client = count.div_ceil(clients.max(1));
    let mut handles = Vec::new();
    for _ in 0..clients.max(1) {
        let req = req.clone();
        handles.push(tokio::spawn(async move {
            let mut conn = Conn::new(addr);
            let mut lat = Vec::with_capacity(per_client);
            let mut errors = 0u64;
            for _ in 0..per_client {
                let t0 = Instant::now();
                match conn.send(&req, false).await {
                    Ok(r) if r.status == 200 => lat.push(t0.elapsed().as_micros() as u64),
                    _ => errors += 1,
                }
                if Instant::now() > deadline {
                    break;
                }
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for h in handles {
        let (lat, e) = h.await?;
        all.extend(lat);
        errors += e;
    }
    all.sort_unstable();
    Ok((
        Outcome {
            ok: all.len() as u64,
            errors,
            elapsed: start.elapsed(),
            latencies_us: all,
            first_error: None,
        },
        first.body,
    ))
}

#[cfg(test)]
mod tests {
    use super::percentile_ms;

    #[test]
    fn nearest_rank() {
        let v: Vec<u64> = (1..=100).map(|x| x * 1000).collect();
        assert_eq!(percentile_ms(&v, 50.0), 50.0);
        assert_eq!(percentile_ms(&v, 99.0), 99.0);
        assert_eq!(percentile_ms(&v, 100.0), 100.0);
        assert_eq!(percentile_ms(&[7000], 99.0), 7.0);
        assert_eq!(percentile_ms(&[], 99.0), 0.0);
    }
}
