//! The memory budget shared by large request bodies (`ACCORD_BODY_MEMORY`).
//!
//! A JSON body is read whole and then parsed, so while its request runs it holds its length
//! twice (the bytes, and the strings parsed from them) plus one parsed value for each value
//! it holds; the values are counted as the bytes arrive, since a dense array of small
//! numbers takes some forty times its length once parsed. An upload streams to the object
//! store and holds only its part buffers.
//!
//! Each Privacy API request whose body is larger than [`SMALL_BODY`] (a Site API body never
//! is, §1.6) reserves that much from one budget when its handler reads the body (so
//! credentials, scope and path are checked first, §1.5), and gives it back when its response
//! is ready. A reservation that does not fit waits, in arrival order and without reading the
//! body, for at most `ApiConfig::body_memory_wait`; past that the request is answered 503
//! with `Retry-After`, after the rest of its body has been read and discarded so that the
//! client receives the answer. Small bodies are never counted: they are the ordinary
//! traffic, and each holds little.
use crate::extract::drain_within;
use crate::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bodies up to this size are not counted (the Site API's whole body limit, §1.6).
pub const SMALL_BODY: u64 = 64 * 1024;

/// The 503 message of a request turned away because the budget is spent.
pub const BUSY: &str = "Too many large request bodies in flight, retry later";

/// The most JSON values one body may hold (**Accord decision**): a dense array of small
/// numbers within the 16 MiB size limit would parse into some 600 MB; at this bound a body
/// parses into at most about 80 MB.
pub const MAX_JSON_VALUES: u64 = 1 << 20;

/// How long the rest of a body turned away may take to arrive and be discarded: enough
/// for the largest body a route accepts (an upload of ten full files) on a busy server.
const DRAIN_REFUSED: Duration = Duration::from_secs(30);

/// Reservations are made in KiB, so that budgets of any size fit the semaphore's counter.
const UNIT: u64 = 1024;

/// Bytes that large request bodies may hold at once, across all requests of the server.
#[derive(Debug)]
pub struct BodyBudget {
    permits: Arc<Semaphore>,
    total_units: u32,
    /// What one streaming upload holds: its part buffer and the part being written.
    upload_bytes: u64,
    /// Longest wait for a reservation before the 503.
    wait: Duration,
}

impl BodyBudget {
    /// A budget of `bytes`, where each upload holds two parts of `upload_part_bytes` and a
    /// reservation waits at most `wait`.
    pub fn new(bytes: u64, upload_part_bytes: usize, wait: Duration) -> BodyBudget {
        let total_units = units(bytes).max(1);
        BodyBudget {
            permits: Arc::new(Semaphore::new(total_units as usize)),
            total_units,
            upload_bytes: 2 * upload_part_bytes as u64,
            wait,
        }
    }

    /// Bytes not reserved right now.
    pub fn available(&self) -> u64 {
        self.permits.available_permits() as u64 * UNIT
    }

    /// Bytes reserved right now.
    pub fn reserved(&self) -> u64 {
        u64::from(self.total_units) * UNIT - self.available()
    }

    /// Reserves `units` if they are free now.
    fn try_reserve(&self, units: u32) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_many_owned(units).ok()
    }

    /// Waits (in arrival order) at most the budget's wait for `units`.
    fn reserve(&self, units: u32) -> Waiting {
        let (permits, wait) = (self.permits.clone(), self.wait);
        Box::pin(async move {
            tokio::time::timeout(wait, permits.acquire_many_owned(units))
                .await
                .ok()?
                .ok()
        })
    }
}

/// A reservation being waited for.
type Waiting = Pin<Box<dyn Future<Output = Option<OwnedSemaphorePermit>> + Send>>;

fn units(bytes: u64) -> u32 {
    u32::try_from(bytes.div_ceil(UNIT)).unwrap_or(u32::MAX)
}

/// The error a counted body yields when its reservation does not fit; the readers of
/// bodies answer it with 503 (see [`over_budget`]).
#[derive(Debug)]
pub struct OverBudget;

impl std::fmt::Display for OverBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(BUSY)
    }
}

impl std::error::Error for OverBudget {}

/// The error a JSON body yields once it holds more than [`MAX_JSON_VALUES`] values; the
/// readers of bodies answer it with 413.
#[derive(Debug)]
pub struct TooManyValues;

impl std::fmt::Display for TooManyValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "body exceeds the maximum of {MAX_JSON_VALUES} JSON values"
        )
    }
}

impl std::error::Error for TooManyValues {}

/// True when reading a body failed because it holds too many JSON values.
pub fn too_many_values(e: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(e), |e| e.source()).any(|e| e.is::<TooManyValues>())
}

/// True when reading a body failed because the budget is spent.
pub fn over_budget(e: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(e), |e| e.source()).any(|e| e.is::<OverBudget>())
}

/// The memory of one parsed JSON value.
const VALUE_BYTES: u64 = std::mem::size_of::<serde_json::Value>() as u64;

/// Counts, as bytes stream by, the JSON values a body will parse into: each `[`, `{`, `,`
/// and `:` outside strings starts at most one (an object member counts twice, for its key
/// and its value). Malformed JSON is counted all the same; the parser refuses it later.
#[derive(Debug, Default, Clone, Copy)]
struct JsonValues {
    count: u64,
    in_string: bool,
    escaped: bool,
}

impl JsonValues {
    fn scan(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.in_string {
                match b {
                    _ if self.escaped => self.escaped = false,
                    b'\\' => self.escaped = true,
                    b'"' => self.in_string = false,
                    _ => {}
                }
            } else {
                match b {
                    b'"' => self.in_string = true,
                    b'[' | b'{' | b',' | b':' => self.count += 1,
                    _ => {}
                }
            }
        }
    }
}

/// How a body is counted.
#[derive(Debug, Clone, Copy)]
enum Charge {
    /// Read whole and parsed: twice its length, reserved at once when the length is
    /// declared, and its parsed values as they arrive.
    Whole(u64),
    /// Read whole, length not declared: twice what has arrived and its parsed values,
    /// reserved as they arrive.
    Growing,
    /// A multipart upload, which streams: a fixed amount.
    Streaming,
}

impl Charge {
    /// `None` for a body too small to count.
    fn of(headers: &HeaderMap) -> Option<Charge> {
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n <= SMALL_BODY)
            || (declared.is_none() && !headers.contains_key(header::TRANSFER_ENCODING))
        {
            return None;
        }
        if crate::extract::is_multipart(headers) {
            return Some(Charge::Streaming);
        }
        Some(declared.map_or(Charge::Growing, Charge::Whole))
    }
}

/// What a counted request holds until its response is ready.
#[derive(Default)]
struct Hold {
    permit: Option<OwnedSemaphorePermit>,
    /// The unread rest of a body turned away, drained before the 503 is sent.
    refused: Option<Body>,
}

/// Counts the request's body against the budget while the request runs (see the module
/// documentation).
pub async fn count_bodies(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(charge) = Charge::of(req.headers()) else {
        return next.run(req).await;
    };
    let hold = Arc::new(Mutex::new(Hold::default()));
    let budget = state.body_budget.clone();
    let counted = hold.clone();
    let req = req.map(|body| {
        Body::new(Counted {
            inner: Some(body),
            budget,
            charge,
            seen: 0,
            values: JsonValues::default(),
            reserved: 0,
            waiting: None,
            hold: counted,
        })
    });
    let res = next.run(req).await;
    let refused = lock(&hold).refused.take();
    if let Some(rest) = refused {
        drain_within(rest, DRAIN_REFUSED).await;
    }
    res
}

fn lock(hold: &Mutex<Hold>) -> std::sync::MutexGuard<'_, Hold> {
    hold.lock().unwrap_or_else(|e| e.into_inner())
}

/// A request body that reserves its share of the budget before each read.
struct Counted {
    inner: Option<Body>,
    budget: Arc<BodyBudget>,
    charge: Charge,
    /// Bytes read so far.
    seen: u64,
    /// JSON values read so far (not counted for an upload).
    values: JsonValues,
    /// Units reserved so far.
    reserved: u32,
    /// The units being waited for, and the wait.
    waiting: Option<(u32, Waiting)>,
    hold: Arc<Mutex<Hold>>,
}

impl Counted {
    /// The units this body needs once `seen` bytes have arrived; never more than the whole
    /// budget, so that a body that alone needs more is served when it is alone.
    fn needed(&self) -> u32 {
        // What grows as the body arrives grows 64 KiB at a time, so that a body does not
        // reserve per frame.
        let parsed = (self.values.count * VALUE_BYTES).next_multiple_of(SMALL_BODY);
        let bytes = match self.charge {
            Charge::Whole(n) => 2 * n + parsed,
            Charge::Growing if self.seen <= SMALL_BODY => 0,
            Charge::Growing => (2 * self.seen).next_multiple_of(SMALL_BODY) + parsed,
            Charge::Streaming => self.budget.upload_bytes,
        };
        units(bytes).min(self.budget.total_units)
    }

    /// Tops the reservation up to what the body needs, waiting for it if it is not free;
    /// false when the wait ran out.
    fn poll_reserve(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        if self.waiting.is_none() {
            let needed = self.needed();
            if needed <= self.reserved {
                return Poll::Ready(true);
            }
            let more = needed - self.reserved;
            if let Some(permit) = self.budget.try_reserve(more) {
                self.add(more, permit);
                return Poll::Ready(true);
            }
            // Waiting for more while holding a share could leave two bodies each waiting
            // for the other's: give the share back and wait for the whole.
            self.release();
            self.waiting = Some((needed, self.budget.reserve(needed)));
        }
        let Some((more, wait)) = self.waiting.as_mut() else {
            return Poll::Ready(true);
        };
        let more = *more;
        let got = ready!(wait.as_mut().poll(cx));
        self.waiting = None;
        match got {
            Some(permit) => {
                self.add(more, permit);
                Poll::Ready(true)
            }
            None => Poll::Ready(false),
        }
    }

    fn release(&mut self) {
        self.reserved = 0;
        lock(&self.hold).permit = None;
    }

    fn add(&mut self, units: u32, permit: OwnedSemaphorePermit) {
        self.reserved += units;
        let mut hold = lock(&self.hold);
        match hold.permit.as_mut() {
            Some(p) => p.merge(permit),
            None => hold.permit = Some(permit),
        }
    }

    /// Hands the unread rest to the middleware (which drains it) and fails the read with
    /// `why`.
    fn refuse(
        &mut self,
        why: impl std::error::Error + Send + Sync + 'static,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        lock(&self.hold).refused = self.inner.take();
        Poll::Ready(Some(Err(axum::Error::new(why))))
    }
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        if this.inner.is_none() {
            return Poll::Ready(None);
        }
        if !ready!(this.poll_reserve(cx)) {
            return this.refuse(OverBudget);
        }
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let frame = ready!(Pin::new(inner).poll_frame(cx));
        if let Some(data) = frame.as_ref().and_then(|f| f.as_ref().ok()?.data_ref()) {
            this.seen += data.len() as u64;
            if !matches!(this.charge, Charge::Streaming) {
                this.values.scan(data);
                if this.values.count > MAX_JSON_VALUES {
                    return this.refuse(TooManyValues);
                }
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |b| b.size_hint())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reservations_wait_their_turn_then_give_up() {
        let b = BodyBudget::new(64 * 1024 * 1024, 1024 * 1024, Duration::from_millis(200));
        let whole = b.try_reserve(units(2 * 16 * 1024 * 1024)).unwrap();
        let second = b.try_reserve(units(2 * 16 * 1024 * 1024)).unwrap();
        assert!(b.try_reserve(1).is_none(), "spent");
        assert!(b.reserve(1).await.is_none(), "the wait runs out");
        let waiting = b.reserve(units(16 * 1024 * 1024));
        let release = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            drop(whole);
        });
        let third = waiting.await.expect("served once the budget is given back");
        release.await.unwrap();
        assert_eq!(b.available(), 16 * 1024 * 1024);
        assert_eq!(b.reserved(), 48 * 1024 * 1024);
        drop((second, third));
        assert_eq!(b.available(), 64 * 1024 * 1024);
    }

    #[test]
    fn parsed_values_are_counted_outside_strings() {
        let mut v = JsonValues::default();
        v.scan(br#"{"a": [1, 2, 3], "b": "x,[{:\"y,"#);
        assert_eq!(
            v.count, 7,
            "{{ : [ , , , : and nothing inside the open string"
        );
        assert!(v.in_string);
        v.scan(br#"z", "c": {}}"#);
        assert_eq!(v.count, 10);
        let mut dense = JsonValues::default();
        dense.scan(&b"[0,".repeat(1000));
        assert_eq!(dense.count, 2000);
    }

    #[test]
    fn small_and_bodyless_requests_are_not_counted() {
        let mut h = HeaderMap::new();
        assert!(Charge::of(&h).is_none());
        h.insert(header::CONTENT_LENGTH, "65536".parse().unwrap());
        assert!(Charge::of(&h).is_none());
        h.insert(header::CONTENT_LENGTH, "65537".parse().unwrap());
        assert!(matches!(Charge::of(&h), Some(Charge::Whole(65537))));
        h.insert(
            header::CONTENT_TYPE,
            "multipart/form-data; boundary=x".parse().unwrap(),
        );
        assert!(matches!(Charge::of(&h), Some(Charge::Streaming)));
        h.remove(header::CONTENT_LENGTH);
        h.remove(header::CONTENT_TYPE);
        h.insert(header::TRANSFER_ENCODING, "chunked".parse().unwrap());
        assert!(matches!(Charge::of(&h), Some(Charge::Growing)));
    }
}
