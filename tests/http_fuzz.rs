//! A fuzz harness for the `http_server` example's request framing
//! (`examples/http_server/framer.rs`), on stable Rust: proptest generates
//! streams of requests, valid and broken, and every stream goes through
//! [`check`], which feeds it to the framer whole, cut at random places and a
//! byte at a time, and asserts:
//!
//! - no panic, and the framer keeps its side of the protocol: fewer than
//!   `MAX_PENDING` bytes left unconsumed when it asks for more, body ranges
//!   inside the input, `Head`, `Data`*, `End` in that order, a refusal that
//!   sticks, bodies within `MAX_BODY_BYTES`, refusals only with 400, 413, 431
//!   or 501;
//! - linear work: the bytes it searched (`Framer::examined`) stay within a
//!   small multiple of the bytes fed, however the stream is cut;
//! - the same outcome (requests with their bodies, then how the stream ended)
//!   however the stream is cut;
//! - the same outcome as [`reference`], a second decoder written from the RFC
//!   9112 grammar that shares no code with the framer (it uses httparse for
//!   the request line and field syntax, as the framer does, and nothing else);
//! - for a stream built valid, the requests it was built from, bodies and all.
//!
//! `cargo test --test http_fuzz` runs the corpus (every case of issue 12 and
//! every finding, as plain tests) and [`FUZZ_CASES`] generated streams from a
//! fixed seed, in a few seconds. To run longer, on fresh seeds:
//!
//! ```text
//! GORT_FUZZ_SECS=1800 cargo test --release --test http_fuzz -- --nocapture
//! ```
//!
//! (`GORT_FUZZ_SEED=N` picks the first seed; the run prints the cases run and
//! the seed of any failure, which proptest shrinks to a small stream.)

#[path = "../examples/http_server/framer.rs"]
#[allow(dead_code)] // the server uses what this harness does not
mod framer;

use framer::{Framer, Step, MAX_BODY_BYTES, MAX_CHUNK_LINE_BYTES, MAX_HEADER_BYTES, MAX_PENDING};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use std::time::{Duration, Instant};

/// Generated streams per `cargo test` run.
const FUZZ_CASES: u32 = 2000;

/// How a stream ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// Between requests.
    Clean,
    /// Inside a request (head, body or trailers).
    Incomplete,
    /// Refused with this status.
    Refused(u16),
}

/// What a decoder made of a stream: the requests it completed (target, body),
/// then how the stream ended.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Outcome {
    requests: Vec<(String, Vec<u8>)>,
    end: End,
}

/// Feeds `segments` to a new framer as the server does (all unconsumed bytes
/// each time, more appended after `NeedMore`), checking the framer's side of
/// the protocol; returns the outcome and the framer's `examined` count.
fn drive<'a>(segments: impl IntoIterator<Item = &'a [u8]>) -> (Outcome, usize) {
    let mut f = Framer::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut requests = Vec::new();
    let mut current: Option<(String, Vec<u8>)> = None;
    let (mut fed, mut calls) = (0usize, 0usize);
    for seg in segments {
        pending.extend_from_slice(seg);
        fed += seg.len();
        loop {
            calls += 1;
            let (n, step) = f.advance(&pending);
            assert!(n <= pending.len(), "consumed {n} of {}", pending.len());
            match step {
                Step::NeedMore => {
                    assert!(
                        pending.len() - n < MAX_PENDING,
                        "{} bytes left unconsumed",
                        pending.len() - n
                    );
                    pending.drain(..n);
                    break;
                }
                Step::Head(r) => {
                    assert!(current.is_none(), "a head inside a request");
                    current = Some((r.path, Vec::new()));
                }
                Step::Data(range) => {
                    assert!(
                        range.start <= range.end && range.end <= n,
                        "{range:?} of {n}"
                    );
                    assert!(range.start < range.end, "empty data");
                    let body = &mut current.as_mut().expect("data outside a request").1;
                    body.extend_from_slice(&pending[range]);
                    assert!(body.len() as u64 <= MAX_BODY_BYTES);
                }
                Step::End => requests.push(current.take().expect("an end outside a request")),
                Step::Reject(r) => {
                    let (code, _) = r.status();
                    assert!([400, 413, 431, 501].contains(&code));
                    // A refusal sticks.
                    assert!(
                        matches!(f.advance(&pending[n..]), (0, Step::Reject(again)) if again == r)
                    );
                    let end = End::Refused(code);
                    return (Outcome { requests, end }, f.examined);
                }
            }
            pending.drain(..n);
        }
    }
    // Linear work: each byte searched about once, plus httparse's pass over
    // each head and a few bytes of look-ahead per call.
    assert!(
        f.examined <= 2 * fed + 4 * calls,
        "{} bytes examined for {fed} fed in {calls} calls",
        f.examined
    );
    let end = if current.is_some() || !pending.is_empty() {
        End::Incomplete
    } else {
        End::Clean
    };
    (Outcome { requests, end }, f.examined)
}

/// Checks `stream` whole, cut at `cuts` (positions, any order), a byte at a
/// time if short, and against the reference; returns the outcome.
fn check(stream: &[u8], cuts: &[usize]) -> Outcome {
    let (whole, _) = drive([stream]);
    let mut at: Vec<usize> = cuts.iter().map(|&c| c.min(stream.len())).collect();
    at.push(0);
    at.push(stream.len());
    at.sort_unstable();
    at.dedup();
    let (split, _) = drive(at.windows(2).map(|w| &stream[w[0]..w[1]]));
    assert_eq!(split, whole, "cut at {at:?}");
    if stream.len() <= 4096 {
        let (bytes, _) = drive(stream.chunks(1));
        assert_eq!(bytes, whole, "a byte at a time");
    }
    assert_eq!(
        reference::decode(stream),
        whole,
        "the reference decoder disagrees"
    );
    whole
}

/// The status a stream of one request is refused with (and the same cut into
/// single bytes and checked against the reference when short).
fn refused(stream: &[u8]) -> u16 {
    match check(stream, &[]).end {
        End::Refused(code) => code,
        end => panic!("not refused: {end:?}"),
    }
}

/// A second decoder, straight from RFC 9112 (§2.2 message format, §6 body
/// length, §7.1 chunked coding) with the server's limits, over a whole
/// stream. Shares nothing with the framer: it finds lines by splitting, and
/// checks chunk extensions with a character automaton.
mod reference {
    use super::{End, Outcome};
    use crate::framer::{
        MAX_BODY_BYTES, MAX_CHUNK_LINE_BYTES, MAX_HEADERS, MAX_HEADER_BYTES, MAX_TRAILER_BYTES,
    };

    /// Why decoding stopped inside a request.
    enum Stop {
        Incomplete,
        Refused(u16),
    }

    impl Stop {
        fn end(self) -> End {
            match self {
                Stop::Incomplete => End::Incomplete,
                Stop::Refused(c) => End::Refused(c),
            }
        }
    }

    /// The outcome of decoding `s` request by request.
    pub fn decode(s: &[u8]) -> Outcome {
        let mut requests = Vec::new();
        let mut p = 0;
        while p < s.len() {
            match request(&s[p..]) {
                Ok((used, target, body)) => {
                    requests.push((target, body));
                    p += used;
                }
                Err(stop) => {
                    return Outcome {
                        requests,
                        end: stop.end(),
                    }
                }
            }
        }
        Outcome {
            requests,
            end: End::Clean,
        }
    }

    /// One request at the front of `s`: bytes used, target, body.
    fn request(s: &[u8]) -> Result<(usize, String, Vec<u8>), Stop> {
        let head = head_length(s)?;
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut r = httparse::Request::new(&mut fields);
        match r.parse(&s[..head]) {
            Ok(httparse::Status::Complete(n)) if n == head => {}
            Err(httparse::Error::TooManyHeaders) => return Err(Stop::Refused(431)),
            _ => return Err(Stop::Refused(400)),
        }
        let target = r.path.unwrap_or("/").to_string();
        let rest = &s[head..];
        let (used, body) = match length(&r)? {
            Some(n) => {
                let n = n as usize;
                if rest.len() < n {
                    return Err(Stop::Incomplete);
                }
                (n, rest[..n].to_vec())
            }
            None => chunked(rest)?,
        };
        Ok((head + used, target, body))
    }

    /// Lines of `s` with where each ends (just past its LF).
    fn lines(s: &[u8]) -> impl Iterator<Item = (&[u8], usize)> {
        let mut at = 0;
        std::iter::from_fn(move || {
            let lf = s[at..].iter().position(|&b| b == b'\n')?;
            let line = &s[at..at + lf];
            at += lf + 1;
            Some((line, at))
        })
    }

    /// §2.2: the head ends at the first empty line after the request line;
    /// empty lines before the request line are skipped; CR before LF is
    /// optional in a head. The whole must fit in MAX_HEADER_BYTES.
    fn head_length(s: &[u8]) -> Result<usize, Stop> {
        let mut seen_request_line = false;
        for (line, end) in lines(s) {
            if end > MAX_HEADER_BYTES {
                break;
            }
            let empty = line.is_empty() || line == b"\r";
            if empty && seen_request_line {
                return Ok(end);
            }
            seen_request_line |= !empty;
        }
        if s.len() >= MAX_HEADER_BYTES {
            Err(Stop::Refused(431))
        } else {
            Err(Stop::Incomplete)
        }
    }

    /// §6.3: `Some(n)` for a fixed length, `None` for chunked.
    fn length(r: &httparse::Request<'_, '_>) -> Result<Option<u64>, Stop> {
        let ows = |v: &[u8]| -> String {
            String::from_utf8_lossy(v)
                .trim_matches(|c| c == ' ' || c == '\t')
                .to_string()
        };
        let named = |n: &str| -> Vec<String> {
            r.headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case(n))
                .map(|h| ows(h.value))
                .collect()
        };
        let lengths = named("Content-Length");
        let te_fields = named("Transfer-Encoding");
        if !te_fields.is_empty() {
            let codings: Vec<String> = te_fields
                .iter()
                .flat_map(|v| v.split(','))
                .map(|c| {
                    c.trim_matches(|c| c == ' ' || c == '\t')
                        .to_ascii_lowercase()
                })
                .filter(|c| !c.is_empty())
                .collect();
            let chunked = codings.iter().filter(|c| *c == "chunked").count();
            let last_chunked = codings.last().map(String::as_str) == Some("chunked");
            if r.version == Some(0) || !lengths.is_empty() || !last_chunked || chunked != 1 {
                return Err(Stop::Refused(400));
            }
            if codings.len() != 1 {
                return Err(Stop::Refused(501));
            }
            return Ok(None);
        }
        let Some(first) = lengths.first() else {
            return Ok(Some(0));
        };
        let digits = !first.is_empty() && first.bytes().all(|b| b.is_ascii_digit());
        if lengths.iter().any(|l| l != first) || !digits {
            return Err(Stop::Refused(400));
        }
        match first.parse::<u64>() {
            Ok(n) if n > MAX_BODY_BYTES => Err(Stop::Refused(413)),
            Ok(n) => Ok(Some(n)),
            Err(_) => Err(Stop::Refused(400)),
        }
    }

    /// The line at the front of `s` (with its LF) if its LF is among the first
    /// `limit` bytes; else incomplete, or refused with `over` once `limit`
    /// bytes are there.
    fn line_within(s: &[u8], limit: usize, over: u16) -> Result<&[u8], Stop> {
        match s.iter().take(limit).position(|&b| b == b'\n') {
            Some(i) => Ok(&s[..=i]),
            None if s.len() >= limit => Err(Stop::Refused(over)),
            None => Err(Stop::Incomplete),
        }
    }

    /// §7.1 chunked-body at the front of `s`: bytes used and the body.
    fn chunked(s: &[u8]) -> Result<(usize, Vec<u8>), Stop> {
        let mut body = Vec::new();
        let mut p = 0;
        loop {
            let line = line_within(&s[p..], MAX_CHUNK_LINE_BYTES, 400)?;
            let size = chunk_line(line).ok_or(Stop::Refused(400))?;
            p += line.len();
            if size == 0 {
                break;
            }
            if size > MAX_BODY_BYTES - body.len() as u64 {
                return Err(Stop::Refused(413));
            }
            let size = size as usize;
            if s.len() < p + size + 2 {
                return Err(Stop::Incomplete);
            }
            body.extend_from_slice(&s[p..p + size]);
            if &s[p + size..p + size + 2] != b"\r\n" {
                return Err(Stop::Refused(400));
            }
            p += size + 2;
        }
        // trailer-section CRLF
        let mut used = 0;
        loop {
            let line = line_within(&s[p..], MAX_TRAILER_BYTES - used, 431)?;
            used += line.len();
            p += line.len();
            if line == b"\r\n" {
                return Ok((p, body));
            }
            if !field_line(line) {
                return Err(Stop::Refused(400));
            }
        }
    }

    fn tchar(c: u8) -> bool {
        c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
    }

    /// field-line CRLF: `name ":" value CRLF`, the value of HTAB, SP, VCHAR
    /// and obs-text.
    fn field_line(line: &[u8]) -> bool {
        let Some(line) = line.strip_suffix(b"\r\n") else {
            return false;
        };
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return false;
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        !name.is_empty()
            && name.iter().all(|&b| tchar(b))
            && value
                .iter()
                .all(|&b| b == b'\t' || b == b' ' || (b > 0x20 && b != 0x7f))
    }

    /// chunk-size [ chunk-ext ] CRLF, with white space allowed before the
    /// CRLF: the size, or None. The extensions run through an automaton over
    /// `chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] )`.
    fn chunk_line(line: &[u8]) -> Option<u64> {
        #[derive(Clone, Copy, PartialEq)]
        enum St {
            Size,
            AfterItem, // after the size, a name or a value: BWS, then ";" or the end
            Semi,      // after ";": BWS, then a name
            Name,
            AfterName, // BWS, then "=", ";" or the end
            Eq,        // after "=": BWS, then a token or a quoted string
            Token,
            Quoted,
            Escape,
        }
        let line = line.strip_suffix(b"\r\n")?;
        let digits: Vec<u8> = line
            .iter()
            .copied()
            .take_while(u8::is_ascii_hexdigit)
            .collect();
        if digits.is_empty() {
            return None;
        }
        let size = u64::from_str_radix(std::str::from_utf8(&digits).ok()?, 16).ok()?;
        let ws = |c: u8| c == b' ' || c == b'\t';
        let mut st = St::Size;
        for &c in &line[digits.len()..] {
            st = match (st, c) {
                (St::Size | St::AfterItem | St::Token, c) if ws(c) => St::AfterItem,
                (St::Size | St::AfterItem | St::Token | St::AfterName | St::Name, b';') => St::Semi,
                (St::Semi, c) if ws(c) => St::Semi,
                (St::Semi | St::Name, c) if tchar(c) => St::Name,
                (St::Name | St::AfterName, c) if ws(c) => St::AfterName,
                (St::Name | St::AfterName, b'=') => St::Eq,
                (St::Eq, c) if ws(c) => St::Eq,
                (St::Eq, b'"') => St::Quoted,
                (St::Eq | St::Token, c) if tchar(c) => St::Token,
                (St::Quoted, b'"') => St::AfterItem,
                (St::Quoted, b'\\') => St::Escape,
                (St::Quoted | St::Escape, c)
                    if c == b'\t' || c == b' ' || (c > 0x20 && c != 0x7f) =>
                {
                    St::Quoted
                }
                _ => return None,
            };
        }
        matches!(
            st,
            St::Size | St::AfterItem | St::Name | St::AfterName | St::Token
        )
        .then_some(size)
    }
}

/// A request to render, and what a correct framer makes of it.
#[derive(Clone, Debug)]
struct Msg {
    target: String,
    /// HTTP/1.0 instead of 1.1.
    http10: bool,
    /// Field lines other than framing ones.
    fields: Vec<(String, String)>,
    /// `Content-Length` field values, as sent.
    lengths: Vec<String>,
    /// `Transfer-Encoding` field values, as sent.
    codings: Vec<String>,
    /// The body as sent (chunked or not).
    wire_body: Vec<u8>,
    /// The body a correct decoder delivers, if the request is valid.
    body: Option<Vec<u8>>,
}

impl Msg {
    fn render(&self, out: &mut Vec<u8>) {
        let method = if self.wire_body.is_empty() {
            "GET"
        } else {
            "POST"
        };
        let version = if self.http10 { "1.0" } else { "1.1" };
        out.extend_from_slice(format!("{method} {} HTTP/{version}\r\n", self.target).as_bytes());
        let framing = self
            .lengths
            .iter()
            .map(|v| ("Content-Length", v))
            .chain(self.codings.iter().map(|v| ("Transfer-Encoding", v)));
        for (n, v) in self
            .fields
            .iter()
            .map(|(n, v)| (n.as_str(), v))
            .chain(framing)
        {
            out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.wire_body);
    }
}

/// One chunk to render: its size line's text and its data.
#[derive(Clone, Debug)]
struct Chunk {
    size: String,
    ext: String,
    data: Vec<u8>,
    /// What follows the data (CRLF when valid).
    after: Vec<u8>,
    /// What ends the size line (CRLF when valid).
    eol: Vec<u8>,
    /// Built valid (false: unknown).
    valid: bool,
}

fn target() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("/".to_string()),
        Just("/healthz".to_string()),
        "/[a-z0-9]{1,8}(\\?[a-z]=[0-9]{1,3})?",
    ]
}

fn field() -> impl Strategy<Value = (String, String)> {
    (
        prop_oneof![
            Just("Host".to_string()),
            Just("Connection".to_string()),
            "X-[A-Za-z0-9-]{1,10}"
        ],
        "[ -~]{0,30}",
    )
        .prop_map(|(n, v)| (n, v.trim().to_string()))
}

/// A valid chunk extension (`;name`, `;name=token`, `;name="quoted"`, BWS).
fn valid_ext() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            "[ \t]{0,2}",
            "[a-z!#*]{1,6}",
            prop_oneof![
                Just(String::new()),
                "[ ]?=[ ]?[a-z0-9]{1,6}",
                "=\"([ a-z!#]|\\\\\")*\"",
            ],
        )
            .prop_map(|(ws, n, v)| format!("{ws};{n}{v}")),
        0..3,
    )
    .prop_map(|v| v.concat())
}

/// Something other than a valid extension, sometimes long.
fn odd_ext() -> impl Strategy<Value = String> {
    prop_oneof![
        "[;=\" \t\\\\a\r\x01\x7f]{1,8}",
        Just(";".to_string()),
        Just(";a=".to_string()),
        Just(";a=\"open".to_string()),
        (1000usize..6000).prop_map(|n| format!(";{}", "a".repeat(n))),
    ]
}

fn chunk() -> impl Strategy<Value = Chunk> {
    let data = prop::collection::vec(any::<u8>(), 1..200);
    let size_style = 0u8..40;
    let ext = prop_oneof![
        16 => valid_ext().prop_map(|e| (e, true)),
        1 => odd_ext().prop_map(|e| (e, false)),
    ];
    let after = prop_oneof![
        60 => Just(b"\r\n".to_vec()),
        1 => prop_oneof![
            Just(b"\n".to_vec()),
            Just(b"".to_vec()),
            Just(b"XY".to_vec()),
            Just(b"\r".to_vec())
        ],
    ];
    let eol = prop_oneof![60 => Just(b"\r\n".to_vec()), 1 => Just(b"\n".to_vec())];
    (data, size_style, ext, after, eol).prop_map(|(data, style, (ext, ext_ok), after, eol)| {
        let n = data.len() as u64;
        let (size, size_ok) = match style {
            0 => (format!("{n:X}"), true),
            1 => (format!("000{n:x}"), true),
            2 => (format!("{:x}", n + 1), false), // more than sent
            3 => (format!("{:x}", n - 1), false), // less than sent (0 ends the body)
            4 => ("ffffffffffffffff".to_string(), false),
            5 => (format!("1{}", "0".repeat(16)), false), // over 64 bits
            6 => ("+1".to_string(), false),
            _ => (format!("{n:x}"), true),
        };
        let valid = size_ok && ext_ok && after == b"\r\n" && eol == b"\r\n";
        Chunk {
            size,
            ext,
            data,
            after,
            eol,
            valid,
        }
    })
}

/// A trailer field line (no CRLF), built valid or not (false: unknown).
fn trailer() -> impl Strategy<Value = (String, bool)> {
    prop_oneof![
        20 => "X-[a-z]{1,8}: [ -~]{0,20}".prop_map(|t| (t, true)),
        1 => "[ -~]{0,10}".prop_map(|t| (t, false)),
        1 => (8000usize..9000).prop_map(|n| (format!("X-Big: {}", "b".repeat(n)), false)),
    ]
}

/// Renders chunks, a last chunk and trailers; the body if all was built valid.
fn chunked_body(
    chunks: &[Chunk],
    last_ext: &str,
    trailers: &[(String, bool)],
) -> (Vec<u8>, Option<Vec<u8>>) {
    let mut wire = Vec::new();
    let mut body = Some(Vec::new());
    for c in chunks {
        wire.extend_from_slice(c.size.as_bytes());
        wire.extend_from_slice(c.ext.as_bytes());
        wire.extend_from_slice(&c.eol);
        wire.extend_from_slice(&c.data);
        wire.extend_from_slice(&c.after);
        match &mut body {
            Some(b) if c.valid => b.extend_from_slice(&c.data),
            _ => body = None,
        }
    }
    wire.extend_from_slice(format!("0{last_ext}\r\n").as_bytes());
    for (t, valid) in trailers {
        wire.extend_from_slice(t.as_bytes());
        wire.extend_from_slice(b"\r\n");
        if !valid {
            body = None;
        }
    }
    wire.extend_from_slice(b"\r\n");
    (wire, body)
}

/// A message, valid or not; `body` says which.
fn msg() -> impl Strategy<Value = Msg> {
    let base = (target(), prop::collection::vec(field(), 0..4));
    let fixed = (prop::collection::vec(any::<u8>(), 0..300), 0u8..30).prop_map(|(body, style)| {
        let n = body.len();
        let (lengths, ok): (Vec<String>, bool) = match style {
            0 => (vec![format!("{n}"), format!("{n}")], true),
            1 => (vec![format!(" {n}\t")], true),
            2 => (vec![format!("{n}"), format!("{}", n + 1)], false),
            3 => (vec![format!("+{n}")], false),
            4 => (vec![format!("{n}, {n}")], false),
            5 => (vec!["99999999999999999999999".to_string()], false),
            6 => (vec![format!("{}", MAX_BODY_BYTES + 1)], false),
            7 => (vec![String::new()], false),
            8 if n == 0 => (vec![], true),
            _ => (vec![format!("{n}")], true),
        };
        (lengths, vec![], body.clone(), ok.then_some(body))
    });
    let chunked = (
        prop::collection::vec(chunk(), 0..5),
        prop_oneof![4 => Just(String::new()), 1 => valid_ext()],
        prop::collection::vec(trailer(), 0..3),
        0u8..30,
    )
        .prop_map(|(chunks, last_ext, trailers, style)| {
            let (wire, body) = chunked_body(&chunks, &last_ext, &trailers);
            let (codings, lengths, ok): (Vec<&str>, Vec<String>, bool) = match style {
                0 => (vec!["Chunked"], vec![], true),
                1 => (vec![" chunked , "], vec![], true),
                2 => (vec!["chunked"], vec![format!("{}", wire.len())], false),
                3 => (vec!["gzip, chunked"], vec![], false),
                4 => (vec!["chunked, gzip"], vec![], false),
                5 => (vec!["chunked", "chunked"], vec![], false),
                6 => (vec!["identity"], vec![], false),
                7 => (vec![""], vec![], false),
                _ => (vec!["chunked"], vec![], true),
            };
            let codings = codings.into_iter().map(String::from).collect();
            (lengths, codings, wire, body.filter(|_| ok))
        });
    (base, prop_oneof![fixed, chunked], any::<bool>()).prop_map(
        |((target, fields), (lengths, codings, wire_body, body), http10)| {
            // HTTP/1.0 with a transfer coding is refused.
            let http10 = http10 && codings.is_empty();
            Msg {
                target,
                http10,
                fields,
                lengths,
                codings,
                wire_body,
                body,
            }
        },
    )
}

/// A stream to check: requests, maybe byte edits, and where to cut it.
#[derive(Debug)]
struct Case {
    stream: Vec<u8>,
    /// Each request's target and body, if the stream was built valid.
    expected: Option<Vec<(String, Vec<u8>)>>,
    cuts: Vec<usize>,
}

fn case() -> impl Strategy<Value = Case> {
    let edits = prop::collection::vec(
        (
            any::<prop::sample::Index>(),
            0u8..3,
            prop::sample::select(&b"\r\n :;0f\"\t\x00a"[..]),
        ),
        0..3,
    );
    (
        prop::collection::vec(msg(), 1..4),
        prop_oneof![4 => Just(0usize), 1 => 1usize..4],
        prop_oneof![5 => Just(vec![]), 1 => edits],
        prop::collection::vec(any::<prop::sample::Index>(), 0..12),
    )
        .prop_map(|(msgs, leading, edits, cuts)| {
            let mut stream = b"\r\n".repeat(leading);
            for m in &msgs {
                m.render(&mut stream);
            }
            let mut expected: Option<Vec<_>> = msgs
                .iter()
                .map(|m| Some((m.target.clone(), m.body.clone()?)))
                .collect();
            for (at, op, b) in &edits {
                let i = at.index(stream.len() + 1);
                match op {
                    0 if i < stream.len() => stream[i] = *b,
                    1 => stream.insert(i, *b),
                    _ if i < stream.len() => {
                        stream.remove(i);
                    }
                    _ => {}
                }
                expected = None;
            }
            let cuts = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
            Case {
                stream,
                expected,
                cuts,
            }
        })
}

/// One generated case: the checks of [`check`], and a stream built valid
/// decodes to what it was built from. Returns the outcome's end.
fn run_case(c: &Case) -> End {
    let outcome = check(&c.stream, &c.cuts);
    if let Some(expected) = &c.expected {
        assert_eq!(outcome.end, End::Clean, "a valid stream refused");
        assert_eq!(&outcome.requests, expected);
    }
    outcome.end
}

/// How generated streams ended: clean, incomplete, 400, 413, 431, 501; and
/// how many were built valid.
#[derive(Debug, Default)]
struct Tally {
    ends: std::collections::BTreeMap<String, u64>,
    valid: u64,
}

/// `n` cases from `seed`, counted into `tally`; panics (after proptest's
/// shrinking) on a failure.
fn run_batch(seed: u64, n: u32, tally: &mut Tally) {
    let config = Config {
        cases: n,
        failure_persistence: None,
        ..Config::default()
    };
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let counts = std::cell::RefCell::new(Tally::default());
    if let Err(e) = runner.run(&case(), |c| {
        let end = run_case(&c);
        let mut t = counts.borrow_mut();
        *t.ends.entry(format!("{end:?}")).or_default() += 1;
        t.valid += u64::from(c.expected.is_some());
        Ok(())
    }) {
        panic!("seed {seed}: {e}");
    }
    // Shrinking runs cases too; only a batch that passed is counted.
    let counts = counts.into_inner();
    for (k, v) in counts.ends {
        *tally.ends.entry(k).or_default() += v;
    }
    tally.valid += counts.valid;
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    Some(
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v:?}: expected a whole number")),
    )
}

/// [`FUZZ_CASES`] generated streams; with `GORT_FUZZ_SECS`, batches on
/// successive seeds until that many seconds have passed.
#[test]
fn generated_streams() {
    let first = env_u64("GORT_FUZZ_SEED").unwrap_or(12);
    let mut tally = Tally::default();
    let Some(secs) = env_u64("GORT_FUZZ_SECS") else {
        run_batch(first, FUZZ_CASES, &mut tally);
        eprintln!("http_fuzz: {FUZZ_CASES} cases from seed {first}: {tally:?}");
        return;
    };
    let t = Instant::now();
    let mut cases = 0u64;
    let mut seed = first;
    while t.elapsed() < Duration::from_secs(secs) {
        run_batch(seed, 1000, &mut tally);
        cases += 1000;
        seed += 1;
        if seed.is_multiple_of(100) {
            eprintln!("http_fuzz: {cases} cases in {:.0?}", t.elapsed());
        }
    }
    eprintln!(
        "http_fuzz: {cases} cases (seeds {first}..{seed}) in {:.0?}, no failure: {tally:?}",
        t.elapsed()
    );
}

// The corpus: each case of issue 12, and each finding of the fuzzer.

const CHUNKED: &[u8] = b"POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";

fn chunked_request(body: &[u8]) -> Vec<u8> {
    [CHUNKED, body].concat()
}

/// Issue 12 item 1: `1;aaaa…` never ending is refused once the line passes
/// 4 KiB, with less than that buffered, however it arrives.
#[test]
fn corpus_endless_chunk_extension() {
    let mut s = chunked_request(b"1;");
    s.resize(s.len() + 3 * MAX_CHUNK_LINE_BYTES, b'a');
    let cuts: Vec<usize> = (0..s.len()).step_by(7).collect();
    assert_eq!(check(&s, &cuts).end, End::Refused(400));
    // Fed 1 KiB at a time, nothing past the first 4 KiB of the line is kept.
    let (o, _) = drive(s.chunks(1024));
    assert_eq!(o.end, End::Refused(400));
}

/// Issue 12 item 1: a 60 KB head a byte at a time is searched once and parsed
/// once (it was parsed 60,000 times).
#[test]
fn corpus_head_a_byte_at_a_time_is_linear() {
    let mut s = b"GET / HTTP/1.1\r\nX-Pad: ".to_vec();
    s.resize(60_000, b'p');
    s.extend_from_slice(b"\r\n\r\n");
    let (o, examined) = drive(s.chunks(1));
    assert_eq!(o.end, End::Clean);
    assert!(examined <= 2 * s.len() + 8, "{examined} bytes examined");
    // Over the limit by one byte: 431.
    let mut s = b"GET / HTTP/1.1\r\nX-Pad: ".to_vec();
    s.resize(MAX_HEADER_BYTES - 3, b'p');
    s.extend_from_slice(b"\r\n\r\n");
    assert_eq!(check(&s, &[100, 60_000]).end, End::Refused(431));
    s.remove(30);
    assert_eq!(check(&s, &[100, 60_000]).end, End::Clean);
}

/// Issue 12 item 2: TE then CL (and CL then TE) is refused, not framed by
/// the length with the rest served as a second request.
#[test]
fn corpus_te_and_cl() {
    let hidden = "GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n";
    let size = format!("{:x}\r\n", hidden.len());
    for order in [
        "Transfer-Encoding: chunked\r\nContent-Length: 4",
        "Content-Length: 4\r\nTransfer-Encoding: chunked",
    ] {
        let s = format!("POST /a HTTP/1.1\r\n{order}\r\n\r\n{size}{hidden}\r\n0\r\n\r\n");
        let o = check(s.as_bytes(), &[]);
        assert_eq!(
            o,
            Outcome {
                requests: vec![],
                end: End::Refused(400)
            }
        );
    }
}

/// Issue 12 item 2: Content-Length values.
#[test]
fn corpus_content_length() {
    let with = |cl: &str| format!("POST / HTTP/1.1\r\n{cl}\r\n\r\nhello").into_bytes();
    for bad in [
        "Content-Length: 5\r\nContent-Length: 4",
        "Content-Length: +5",
        "Content-Length: -5",
        "Content-Length: 5, 5",
        "Content-Length: 5 5",
        "Content-Length: ",
        "Content-Length: 0x5",
        "Content-Length: 18446744073709551616",
    ] {
        assert_eq!(refused(&with(bad)), 400, "{bad}");
    }
    assert_eq!(refused(&with("Content-Length: 18446744073709551615")), 413);
    let ok = check(&with("Content-Length: 5\r\ncontent-length: 5"), &[]);
    assert_eq!(ok.requests, [("/".to_string(), b"hello".to_vec())]);
}

/// Issue 12 item 2: the CRLF after chunk data, and CRLF on chunk lines.
#[test]
fn corpus_chunk_data_crlf() {
    for bad in [
        &b"3\r\nabcXY0\r\n\r\n"[..],
        b"3\r\nabc\n0\r\n\r\n",
        b"3\nabc\r\n0\r\n\r\n",
        b"3\r\nabc\r\n0\n\r\n",
        b"3\r\nabc\r\n0\r\n\n",
        b"3\r\nabc\r\n0\r\nX: y\n\r\n",
        b"3\r\nabc\r\n0\r\nno colon\r\n\r\n",
    ] {
        assert_eq!(
            refused(&chunked_request(bad)),
            400,
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    let ok = check(
        &chunked_request(b"3;a=\"b;c\";d\r\nabc\r\n0\r\nX-T: 1\r\n\r\n"),
        &[],
    );
    assert_eq!(ok.requests, [("/c".to_string(), b"abc".to_vec())]);
}

/// Issue 12 item 3: chunk sizes near and past 64 bits.
#[test]
fn corpus_chunk_size_overflow() {
    assert_eq!(
        refused(&chunked_request(b"1\r\na\r\nffffffffffffffff\r\n")),
        413
    );
    assert_eq!(refused(&chunked_request(b"10000000000000000\r\n")), 400);
    assert_eq!(refused(&chunked_request(b"100001\r\n")), 413);
    let ok = check(
        &chunked_request(b"0000000000000000000001\r\na\r\n0\r\n\r\n"),
        &[],
    );
    assert_eq!(ok.requests, [("/c".to_string(), b"a".to_vec())]);
}

/// Transfer codings (RFC 9112 §6.1, §6.3).
#[test]
fn corpus_transfer_codings() {
    let with = |te: &str, v: &str| {
        format!("POST / HTTP/{v}\r\nTransfer-Encoding: {te}\r\n\r\n0\r\n\r\n").into_bytes()
    };
    assert_eq!(refused(&with("gzip, chunked", "1.1")), 501);
    assert_eq!(refused(&with("chunked, gzip", "1.1")), 400);
    assert_eq!(refused(&with("chunked,chunked", "1.1")), 400);
    assert_eq!(refused(&with("chunked", "1.0")), 400);
    assert_eq!(refused(&with("", "1.1")), 400);
    assert_eq!(check(&with("chunked, ", "1.1"), &[]).end, End::Clean);
}

/// Trailers: bounded at 8 KiB (431), checked, and a head that is all empty
/// lines is bounded too.
#[test]
fn corpus_trailers_and_empty_lines() {
    let mut t = chunked_request(b"0\r\nX-Big: ");
    t.resize(t.len() + framer::MAX_TRAILER_BYTES, b'b');
    assert_eq!(refused(&t), 431);
    let s = b"\r\n".repeat(MAX_HEADER_BYTES);
    assert_eq!(check(&s, &[1, 2, 3, 4096]).end, End::Refused(431));
    let s = [&b"\r\n\n\r\n"[..], b"GET / HTTP/1.1\n\n"].concat();
    assert_eq!(check(&s, &[]).requests.len(), 1);
}

/// Pipelined requests of every kind, then a partial one.
#[test]
fn corpus_pipeline() {
    let mut s = b"GET /a HTTP/1.1\r\n\r\n".to_vec();
    s.extend_from_slice(b"POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz");
    s.extend_from_slice(&chunked_request(b"2\r\nhi\r\n0\r\n\r\n"));
    s.extend_from_slice(b"GET /d HTTP/1.1\r\nHo");
    let cuts: Vec<usize> = (0..s.len()).collect();
    let o = check(&s, &cuts);
    assert_eq!(o.end, End::Incomplete);
    let bodies: Vec<&[u8]> = o.requests.iter().map(|(_, b)| &b[..]).collect();
    assert_eq!(bodies, [&b""[..], b"xyz", b"hi"]);
}
