//! `ACCORD_GEOIP_DB` (§5.2): without a trusted geo header, the session's geography comes
//! from a MaxMind-format database. The database is written by this test (a minimal MaxMind
//! DB writer below), so no third-party data file is needed.
use crate::both;
use crate::common::*;
use accord_api::geoip::GeoIp;
use accord_api::ApiConfig;
use std::sync::Arc;

/// MaxMind DB values used by the test database.
enum V {
    Str(&'static str),
    U16(u16),
    U32(u32),
    U64(u64),
    Map(Vec<(&'static str, V)>),
    Array(Vec<V>),
}

fn control(out: &mut Vec<u8>, ty: u8, size: usize) {
    assert!(size < 29, "small values only");
    if ty <= 7 {
        out.push((ty << 5) | size as u8);
    } else {
        out.push(size as u8);
        out.push(ty - 7);
    }
}

fn uint(out: &mut Vec<u8>, ty: u8, v: u64) {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    control(out, ty, 8 - skip);
    out.extend_from_slice(&bytes[skip..]);
}

fn encode(out: &mut Vec<u8>, v: &V) {
    match v {
        V::Str(s) => {
            control(out, 2, s.len());
            out.extend_from_slice(s.as_bytes());
        }
        V::U16(n) => uint(out, 5, u64::from(*n)),
        V::U32(n) => uint(out, 6, u64::from(*n)),
        V::U64(n) => uint(out, 9, *n),
        V::Map(entries) => {
            control(out, 7, entries.len());
            for (k, v) in entries {
                encode(out, &V::Str(k));
                encode(out, v);
            }
        }
        V::Array(items) => {
            control(out, 11, items.len());
            for v in items {
                encode(out, v);
            }
        }
    }
}

/// A binary trie over IPv4 address bits; leaves point into the data section.
enum Node {
    Empty,
    Data(usize),
    Inner(Box<Node>, Box<Node>),
}

fn insert(node: &mut Node, bits: u32, depth: u32, len: u32, data: usize) {
    if depth == len {
        *node = Node::Data(data);
        return;
    }
    if !matches!(node, Node::Inner(..)) {
        *node = Node::Inner(Box::new(Node::Empty), Box::new(Node::Empty));
    }
    let Node::Inner(left, right) = node else {
        unreachable!()
    };
    let child = if bits >> (31 - depth) & 1 == 0 {
        left
    } else {
        right
    };
    insert(child, bits, depth + 1, len, data);
}

/// Numbers inner nodes in pre-order; returns the flat list of (left, right) children.
fn flatten<'a>(node: &'a Node, out: &mut Vec<(&'a Node, &'a Node)>) {
    if let Node::Inner(l, r) = node {
        out.push((l, r));
        flatten(l, out);
        flatten(r, out);
    }
}

/// An IPv4 MaxMind DB (24-bit records) mapping each `(network, prefix, record)`.
fn mmdb(networks: &[(&str, u32, V)]) -> Vec<u8> {
    let mut data = Vec::new();
    let mut root = Node::Inner(Box::new(Node::Empty), Box::new(Node::Empty));
    for (net, len, record) in networks {
        let ip: std::net::Ipv4Addr = net.parse().unwrap();
        let offset = data.len();
        encode(&mut data, record);
        insert(&mut root, u32::from(ip), 0, *len, offset);
    }
    let mut nodes = Vec::new();
    flatten(&root, &mut nodes);
    let count = nodes.len();
    // Pre-order numbering: a node's left inner child is the next node, its right inner
    // child comes after the whole left subtree.
    fn size(n: &Node) -> usize {
        match n {
            Node::Inner(l, r) => 1 + size(l) + size(r),
            _ => 0,
        }
    }
    let record = |n: &Node, inner_id: usize| -> usize {
        match n {
            Node::Empty => count,
            Node::Data(off) => count + 16 + off,
            Node::Inner(..) => inner_id,
        }
    };
    let mut out = Vec::new();
    for (i, (l, r)) in nodes.iter().enumerate() {
        let left = record(l, i + 1);
        let right = record(r, i + 1 + size(l));
        for v in [left, right] {
            out.extend_from_slice(&(v as u32).to_be_bytes()[1..]);
        }
    }
    out.extend_from_slice(&[0u8; 16]);
    out.extend_from_slice(&data);
    out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
    let meta = V::Map(vec![
        ("node_count", V::U32(count as u32)),
        ("record_size", V::U16(24)),
        ("ip_version", V::U16(4)),
        ("database_type", V::Str("Accord-Test-City")),
        ("languages", V::Array(vec![V::Str("en")])),
        ("binary_format_major_version", V::U16(2)),
        ("binary_format_minor_version", V::U16(0)),
        ("build_epoch", V::U64(1_700_000_000)),
        ("description", V::Map(vec![("en", V::Str("Accord test"))])),
    ]);
    encode(&mut out, &meta);
    out
}

both!(geography_falls_back_to_the_geoip_database);

/// A server whose `ACCORD_GEOIP_DB` maps 127.0.0.0/8 to DE-BE, 81.2.69.0/24 to GB-ENG and
/// 2.125.160.0/20 to a country without subdivision (SE).
async fn server(b: accord_store::Backend, trusted: bool) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("test-city.mmdb");
    let sub = |cc: &'static str, sub: Option<&'static str>| {
        let mut m = vec![("country", V::Map(vec![("iso_code", V::Str(cc))]))];
        if let Some(s) = sub {
            m.push((
                "subdivisions",
                V::Array(vec![V::Map(vec![("iso_code", V::Str(s))])]),
            ));
        }
        V::Map(m)
    };
    let db = mmdb(&[
        ("127.0.0.0", 8, sub("de", Some("be"))),
        ("81.2.69.0", 24, sub("GB", Some("ENG"))),
        ("2.125.160.0", 20, sub("SE", None)),
    ]);
    std::fs::write(&path, db).unwrap();
    let geoip = GeoIp::open(&path).expect("the test database opens");
    let config = ApiConfig {
        rate_limit_privacy: 0,
        trusted_proxies: if trusted {
            vec!["127.0.0.0/8".parse().unwrap()]
        } else {
            vec![]
        },
        geo_header: Some("cloudfront-viewer-country".into()),
        geoip: Some(Arc::new(geoip)),
        ..Default::default()
    };
    (start_with(b, config).await, dir)
}

async fn mint(s: &Server, headers: &[(&str, &str)]) -> serde_json::Value {
    let mut rb = s
        .client
        .post(s.url(&format!("/site-v1/{}/session", s.project)));
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let res = rb.send().await.expect("request");
    assert_eq!(res.status().as_u16(), 201);
    res.json().await.expect("json")
}

async fn geography_falls_back_to_the_geoip_database(b: accord_store::Backend) {
    // Direct peer 127.0.0.1, no trusted proxy: the database answers, and an untrusted
    // geo header is ignored.
    let (s, _dir) = server(b, false).await;
    let body = mint(&s, &[("cloudfront-viewer-country", "US")]).await;
    assert_eq!(body["geography"], "DE-BE");
    let token = body["session"].as_str().unwrap().to_string();
    let path = format!("/site-v1/{}/consent-events", s.project);
    let res = s
        .client
        .post(s.url(&path))
        .header("x-session", &token)
        .json(&serde_json::json!({"items": [{"consentState": "implied", "consentAction": "implied",
            "category": "disclosure", "subcategory": ["privacy_policy"], "label": "privacy_policy"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    let created: serde_json::Value = res.json().await.unwrap();
    assert_eq!(created["items"][0]["session"]["geography"], "DE-BE");
    let (_, list) = s.get(&s.project_path("/sessions?geography=DE-BE")).await;
    assert_eq!(list["total"], 1);

    // Behind a trusted proxy: its geo header wins; without it, the forwarded address is
    // looked up; an address the database does not know has no geography.
    let (s, _dir) = server(b, true).await;
    let body = mint(
        &s,
        &[
            ("x-forwarded-for", "81.2.69.160"),
            ("cloudfront-viewer-country", "US-CA"),
        ],
    )
    .await;
    assert_eq!(body["geography"], "US-CA");
    let body = mint(&s, &[("x-forwarded-for", "81.2.69.160")]).await;
    assert_eq!(body["geography"], "GB-ENG");
    let body = mint(&s, &[("x-forwarded-for", "2.125.170.1")]).await;
    assert_eq!(body["geography"], "SE");
    let body = mint(&s, &[("x-forwarded-for", "198.51.100.1")]).await;
    assert!(body.get("geography").is_none(), "{body}");
}
