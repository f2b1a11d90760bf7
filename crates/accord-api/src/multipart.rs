//! What the upload route (§3.8) reads from a `multipart/form-data` part beyond what the
//! multipart parser gives: the file name from `filename` or `filename*` (RFC 8187), and
//! the file-name rule for a part whose headers the parser refused.
//!
//! The parser (`multer`) reads only the plain `filename` parameter, and refuses a part whose
//! headers hold a control character before any name is seen; §3.8 accepts `filename*` and
//! answers control characters in a name with the file-name rule. Quoted values follow what
//! browsers and the parser do: `\"` stands for a quote, any other backslash is itself.
use accord_core::compliance::check_file_name;
use accord_core::Error;
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// The 400 message of a body that is not well-formed multipart.
pub const MALFORMED: &str = "body must be valid multipart/form-data";

fn malformed() -> Error {
    Error::bad(MALFORMED)
}

/// The file name of a part from its `Content-Disposition` value: `filename*` when present
/// (RFC 6266 §4.3), else `filename`; `None` when the part has neither. A name that cannot
/// be decoded makes the body malformed.
pub fn file_name(disposition: &[u8]) -> Result<Option<String>, Error> {
    let params = params(disposition);
    if let Some((_, value)) = params.iter().find(|(n, _)| n == "filename*") {
        return ext_value(value).map(Some).ok_or_else(malformed);
    }
    match params.into_iter().find(|(n, _)| n == "filename") {
        Some((_, value)) => String::from_utf8(value).map(Some).map_err(|_| malformed()),
        None => Ok(None),
    }
}

/// The parameters after the disposition type, names lowercased, values unquoted.
fn params(value: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let Some(start) = value.iter().position(|&b| b == b';') else {
        return out;
    };
    let mut rest = &value[start + 1..];
    while let Some(eq) = rest.iter().position(|&b| b == b'=' || b == b';') {
        if rest[eq] == b';' {
            rest = &rest[eq + 1..];
            continue;
        }
        let name = String::from_utf8_lossy(rest[..eq].trim_ascii()).to_ascii_lowercase();
        let after = rest[eq + 1..].trim_ascii_start();
        let (value, tail) = match after.strip_prefix(b"\"") {
            Some(q) => quoted(q),
            None => {
                let end = after.iter().position(|&b| b == b';').unwrap_or(after.len());
                (after[..end].trim_ascii().to_vec(), &after[end..])
            }
        };
        out.push((name, value));
        match tail.iter().position(|&b| b == b';') {
            Some(i) => rest = &tail[i + 1..],
            None => break,
        }
    }
    out
}

/// A quoted string's content and what follows its closing quote.
fn quoted(s: &[u8]) -> (Vec<u8>, &[u8]) {
    let mut value = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'\\' if s.get(i + 1) == Some(&b'"') => {
                value.push(b'"');
                i += 2;
            }
            b'"' => return (value, &s[i + 1..]),
            b => {
                value.push(b);
                i += 1;
            }
        }
    }
    (value, &s[s.len()..])
}

/// An RFC 8187 `charset'language'percent-encoded` value in UTF-8 or ISO-8859-1.
fn ext_value(value: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(value).ok()?;
    let mut fields = text.splitn(3, '\'');
    let (charset, _language, encoded) = (fields.next()?, fields.next()?, fields.next()?);
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(encoded).collect();
    if charset.eq_ignore_ascii_case("utf-8") {
        String::from_utf8(bytes).ok()
    } else if charset.eq_ignore_ascii_case("iso-8859-1") {
        Some(bytes.into_iter().map(char::from).collect())
    } else {
        None
    }
}

/// The latest stretch of a body the multipart parser has pulled (shared chunks, not
/// copies), so that the headers of a part it refused can be read again.
#[derive(Clone, Default)]
pub struct Recent(Arc<Mutex<Window>>);

#[derive(Default)]
struct Window {
    chunks: VecDeque<Bytes>,
    bytes: usize,
}

impl Recent {
    /// Header blocks longer than this are not looked at again.
    const KEEP: usize = 64 * 1024;

    /// Notes a chunk the parser pulls.
    pub fn saw(&self, chunk: &Bytes) {
        let mut w = self.0.lock().unwrap_or_else(|e| e.into_inner());
        w.chunks.push_back(chunk.clone());
        w.bytes += chunk.len();
        while w.chunks.len() > 1 && w.bytes - w.chunks[0].len() >= Self::KEEP {
            let old = w.chunks.pop_front().map_or(0, |c| c.len());
            w.bytes -= old;
        }
    }

    /// The error for a part whose headers the parser refused: the file-name rule when the
    /// part's file name breaks it, else the generic multipart message.
    pub fn refused_headers(&self, boundary: &str) -> Error {
        let window: Vec<u8> = {
            let w = self.0.lock().unwrap_or_else(|e| e.into_inner());
            w.chunks.iter().flat_map(|c| c.iter().copied()).collect()
        };
        let delimiter = format!("--{boundary}");
        let mut rest = window.as_slice();
        while let Some(at) = find(rest, delimiter.as_bytes()) {
            rest = &rest[at + delimiter.len()..];
            let block = &rest[..find(rest, b"\r\n\r\n").unwrap_or(rest.len())];
            if !unparsable(block) {
                continue;
            }
            let name = lines(block)
                .filter_map(disposition)
                .find_map(|value| file_name(value).ok().flatten());
            return match name.map(|n| check_file_name(&n)) {
                Some(Err(rule)) => rule,
                _ => malformed(),
            };
        }
        malformed()
    }
}

/// The value of a `Content-Disposition` header line.
fn disposition(line: &[u8]) -> Option<&[u8]> {
    const NAME: &[u8] = b"content-disposition:";
    let head = line.get(..NAME.len())?;
    head.eq_ignore_ascii_case(NAME).then(|| &line[NAME.len()..])
}

/// True when a header block holds bytes no header value may hold: control characters
/// other than tab, or a CR or LF that is not part of a line break.
fn unparsable(block: &[u8]) -> bool {
    block.iter().enumerate().any(|(i, &b)| match b {
        b'\r' => block.get(i + 1) != Some(&b'\n'),
        b'\n' => i == 0 || block[i - 1] != b'\r',
        b'\t' => false,
        _ => b < 0x20 || b == 0x7f,
    })
}

/// The lines of a header block; a lone CR or LF stays inside its line.
fn lines(block: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(block);
    std::iter::from_fn(move || {
        let r = rest?;
        match find(r, b"\r\n") {
            Some(i) => {
                rest = Some(&r[i + 2..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(v: &str) -> Result<Option<String>, Error> {
        file_name(v.as_bytes())
    }

    #[test]
    fn plain_and_extended_names() {
        assert_eq!(
            name(r#"form-data; name="file"; filename="a b.pdf""#).unwrap(),
            Some("a b.pdf".into())
        );
        assert_eq!(
            name("form-data; name=file; filename=report.pdf").unwrap(),
            Some("report.pdf".into())
        );
        assert_eq!(
            name(r#"form-data; name="file"; filename="say \"hi\".txt""#).unwrap(),
            Some("say \"hi\".txt".into())
        );
        assert_eq!(
            name(r#"form-data; name="file"; filename="C:\dir\x.txt""#).unwrap(),
            Some(r"C:\dir\x.txt".into()),
            "a lone backslash is itself, as browsers send it"
        );
        assert_eq!(
            name("form-data; name=\"file\"; filename*=UTF-8''%D0%9E%D1%82%D0%B2%D0%B5%D1%82.pdf")
                .unwrap(),
            Some("Ответ.pdf".into())
        );
        assert_eq!(
            name("form-data; filename*=utf-8'en'a%3Bb.txt; name=\"file\"").unwrap(),
            Some("a;b.txt".into())
        );
        assert_eq!(
            name("form-data; name=\"file\"; filename=\"fallback.txt\"; filename*=UTF-8''%E2%82%AC.txt")
                .unwrap(),
            Some("€.txt".into()),
            "filename* wins over filename"
        );
        assert_eq!(
            name("form-data; name=\"file\"; filename*=iso-8859-1''caf%E9.txt").unwrap(),
            Some("café.txt".into())
        );
        assert_eq!(name(r#"form-data; name="file""#).unwrap(), None);
        assert_eq!(
            name("form-data; name=\"file\"; filename*=UTF-8''a%01b").unwrap(),
            Some("a\u{1}b".into())
        );
        assert_eq!(
            name("form-data; name=\"file\"; filename*=koi8-r''x").unwrap_err(),
            malformed()
        );
        assert_eq!(
            name("form-data; name=\"file\"; filename*=UTF-8''%FF").unwrap_err(),
            malformed()
        );
    }

    fn body(parts: &[&[u8]]) -> Recent {
        let recent = Recent::default();
        for p in parts {
            recent.saw(&Bytes::copy_from_slice(p));
        }
        recent
    }

    #[test]
    fn refused_headers_name_the_file_rule() {
        let recent = body(&[
            b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"ok.txt\"\r\n\r\nabc\r\n",
            b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\x01",
            b"b.txt\"\r\nContent-Type: text/plain\r\n\r\nx\r\n--XyZ--\r\n",
        ]);
        assert_eq!(
            recent.refused_headers("XyZ"),
            Error::bad("body/file/fileName must NOT contain control characters")
        );
        let other = body(&[
            b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"ok.txt\"\r\nX-Note: a\x01b\r\n\r\nx\r\n--XyZ--\r\n",
        ]);
        assert_eq!(other.refused_headers("XyZ"), malformed());
        let del = body(&[
            b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x\x7f\"\r\n\r\n",
        ]);
        assert_eq!(
            del.refused_headers("b"),
            Error::bad("body/file/fileName must NOT contain control characters")
        );
        let lf = body(&[
            b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x\ny\"\r\n\r\n",
        ]);
        assert_eq!(
            lf.refused_headers("b"),
            Error::bad("body/file/fileName must NOT contain control characters")
        );
    }

    #[test]
    fn the_window_keeps_only_the_latest_stretch() {
        let recent = Recent::default();
        for _ in 0..100 {
            recent.saw(&Bytes::from(vec![b'x'; 4096]));
        }
        let w = recent.0.lock().unwrap();
        assert!(w.bytes >= Recent::KEEP && w.bytes < Recent::KEEP + 4096);
    }
}
