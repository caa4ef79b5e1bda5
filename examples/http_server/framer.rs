//! Request framing for the `http_server` example: where each request's head
//! and body begin and end in the byte stream of one connection (RFC 9112 §2–§7),
//! as a state machine over byte slices, with no socket in sight. `server.rs`
//! feeds it what it reads; `tests/http_fuzz.rs` feeds it generated streams cut at
//! random places and compares it with a reference decoder.
//!
//! # The protocol with the caller
//!
//! The caller keeps the bytes it has read and not yet handed over for good, and
//! calls [`Framer::advance`] with all of them. `advance` returns how many bytes
//! it has consumed (the caller drops those) and one [`Step`]:
//!
//! - [`Step::Head`]: a request head, parsed; its body (if any) follows.
//! - [`Step::Data`]: body bytes (chunk framing removed), a range of the input.
//! - [`Step::End`]: the request is complete; the next bytes start the next one.
//! - [`Step::NeedMore`]: append more bytes and call again with all unconsumed
//!   ones. Fewer than [`MAX_PENDING`] bytes are unconsumed then, so a buffer of
//!   that size always has room for the next read.
//! - [`Step::Reject`]: the stream is malformed or over a limit; answer the
//!   status and close the connection (every later call says the same).
//!
//! Every request is `Head`, any number of `Data`, then `End`.
//!
//! # Limits (the server's memory per connection is bounded by them)
//!
//! | what                                      | limit                          | over it |
//! |-------------------------------------------|--------------------------------|---------|
//! | request head, leading empty lines included | [`MAX_HEADER_BYTES`] (64 KiB) | 431     |
//! | header fields                             | [`MAX_HEADERS`] (100)          | 431     |
//! | body (after chunk framing is removed)     | [`MAX_BODY_BYTES`] (1 MiB)     | 413     |
//! | one chunk-size line, extensions and CRLF included | [`MAX_CHUNK_LINE_BYTES`] (4 KiB, Go's `maxLineLength`) | 400 |
//! | trailer section, its final CRLF included  | [`MAX_TRAILER_BYTES`] (8 KiB)  | 431     |
//!
//! # Linear cost
//!
//! However the stream is cut, each byte is searched about once: `scanned`
//! remembers how far the search for the end of the current head or line got
//! (only an LF whose next bytes have not arrived is looked at again), and
//! `httparse` runs once per head, when its empty line is there. (The server used to hand
//! httparse the whole buffer on each read: a 60 KB head sent a byte at a time
//! was parsed 60,000 times.)
//!
//! # Message body length (RFC 9112 §6.3), as decided by [`framing`]
//!
//! - `Transfer-Encoding` present: in an HTTP/1.0 request, 400 (§6.1: the framing
//!   is faulty). With `Content-Length` too, 400: see [`framing`] for why we
//!   reject rather than ignore the length. `chunked` must be the final coding and
//!   appear once, else 400 (§6.3, §7); any other coding before it is one we do
//!   not decode, 501 (§6.1). So the only body read this way is `chunked` alone.
//! - Else `Content-Length`: 1*DIGIT that fits in a `u64`, else 400 (no sign, no
//!   list, no space inside: `+5` and `5, 5` are 400 as in Go's `strconv.ParseUint`);
//!   repeated fields must have identical values (RFC 9110 §8.6), else 400; over
//!   [`MAX_BODY_BYTES`], 413 before any of the body is read.
//! - Else no body.
//!
//! # Chunked coding (RFC 9112 §7.1)
//!
//! ```text
//! chunked-body = *chunk last-chunk trailer-section CRLF
//! chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//! chunk-ext    = *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )
//! ```
//!
//! The size is hex, at most a `u64` (more is 400, not wrap-around); a chunk that
//! would take the body past [`MAX_BODY_BYTES`] is 413 before its data is read.
//! Extensions are checked against the grammar above (and ignored); white space
//! may end the line, as Go and most servers allow. Every line of the chunked
//! body (size lines, the CRLF after each chunk's data, trailer fields) must end
//! in CRLF: a bare LF there is 400, as current Go refuses it too (RFC 9112
//! erratum 7633 declined to allow it in chunked lines).
//! Trailer fields are checked (`name ":" value`) and dropped.
//!
//! # Left out
//!
//! - Go's bound on chunk overhead (`chunkedReader.excess`, a fix for
//!   CVE-2023-39326): a body of a million one-byte chunks with 4 KiB of
//!   extensions each is read to the end here. It costs CPU linear in the bytes
//!   received and no memory, like any client that keeps sending.
//! - Request heads use LF or CRLF line ends, as httparse allows (RFC 9112 §2.2).

use std::ops::Range;

/// Largest request head (request line, header fields, the empty line; leading
/// empty lines count too); larger gets 431.
pub const MAX_HEADER_BYTES: usize = 64 << 10;
/// Header fields per request before 431 (httparse fills a fixed array).
pub const MAX_HEADERS: usize = 100;
/// Largest request body; larger gets 413.
pub const MAX_BODY_BYTES: u64 = 1 << 20;
/// Longest chunk-size line, extensions and CRLF included; longer gets 400.
pub const MAX_CHUNK_LINE_BYTES: usize = 4 << 10;
/// Largest trailer section (its fields and final CRLF); larger gets 431.
pub const MAX_TRAILER_BYTES: usize = 8 << 10;
/// Upper bound on the bytes the framer leaves unconsumed when it asks for
/// more: the caller's buffer never needs to be larger.
pub const MAX_PENDING: usize = MAX_HEADER_BYTES;

/// Why a request is refused: its status code and the connection's end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reject {
    /// 400: malformed framing or head.
    BadRequest,
    /// 413: the body is over [`MAX_BODY_BYTES`].
    ContentTooLarge,
    /// 431: the head is over [`MAX_HEADER_BYTES`] or [`MAX_HEADERS`], or the
    /// trailers over [`MAX_TRAILER_BYTES`].
    HeaderFieldsTooLarge,
    /// 501: a transfer coding other than `chunked`.
    NotImplemented,
}

impl Reject {
    /// The status code and its reason phrase.
    pub fn status(self) -> (u16, &'static str) {
        match self {
            Reject::BadRequest => (400, "Bad Request"),
            Reject::ContentTooLarge => (413, "Request Entity Too Large"),
            Reject::HeaderFieldsTooLarge => (431, "Request Header Fields Too Large"),
            Reject::NotImplemented => (501, "Not Implemented"),
        }
    }
}

/// What [`Framer::advance`] found; see the module doc for the order.
#[derive(Debug)]
pub enum Step {
    /// More input is needed; the unconsumed bytes must be passed again.
    NeedMore,
    /// A request head.
    Head(Request),
    /// Body bytes: this range of the input passed to `advance`.
    Data(
        // The server drops bodies unread; the tests read them.
        #[allow(dead_code)] Range<usize>,
    ),
    /// The request (head and body) is complete.
    End,
    /// The stream is refused; every later call says so again.
    Reject(Reject),
}

/// What the handlers need of a parsed request, owned (the parse borrows the
/// caller's buffer).
#[derive(Debug)]
pub struct Request {
    /// The request target as sent (`/path?query`).
    pub path: String,
    /// Every header field, in order, names as sent.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Whether the connection stays open after the response (HTTP/1.1 unless
    /// `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`).
    pub keep_alive: bool,
    /// How the body is framed.
    pub body: BodyLength,
}

/// How a request's body is delimited (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyLength {
    /// This many bytes follow the head (`Content-Length`; 0 for no body).
    Fixed(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// Where the framer is in the stream.
#[derive(Clone, Copy, Debug)]
enum State {
    /// Looking for the end of a request head (the first empty line).
    Head,
    /// In a `Content-Length` body, this many bytes to go (0: report `End`).
    Fixed { left: u64 },
    /// Looking for the end of a chunk-size line.
    ChunkLine,
    /// In a chunk's data, this many bytes to go.
    ChunkData { left: u64 },
    /// Expecting the CRLF after a chunk's data.
    ChunkEnd,
    /// Reading trailer field lines up to the empty one.
    Trailer,
    /// Refused; stays so.
    Failed(Reject),
}

/// The framing state machine of one connection (see the module doc).
#[derive(Debug)]
pub struct Framer {
    state: State,
    /// Bytes at the front of the input already searched for the end of the
    /// current head or line without finding it (so they are not searched again).
    scanned: usize,
    /// In `Head`: whether the request line has begun (leading empty lines,
    /// which RFC 9112 §2.2 says to ignore, are behind us).
    begun: bool,
    /// Body bytes of the current request so far (for [`MAX_BODY_BYTES`]).
    body_bytes: u64,
    /// Trailer bytes of the current request so far (for [`MAX_TRAILER_BYTES`]).
    trailer_bytes: usize,
    /// Bytes searched for head and line ends plus bytes handed to httparse,
    /// so far: `tests/http_fuzz.rs` checks that this stays linear in the
    /// bytes received however they are cut (compiled into tests only).
    #[cfg(test)]
    pub examined: usize,
}

impl Default for Framer {
    fn default() -> Framer {
        Framer::new()
    }
}

impl Framer {
    /// A framer at the start of a connection.
    pub fn new() -> Framer {
        Framer {
            state: State::Head,
            scanned: 0,
            begun: false,
            body_bytes: 0,
            trailer_bytes: 0,
            #[cfg(test)]
            examined: 0,
        }
    }

    /// Consumes what it can of `input` (every byte the caller holds and has not
    /// seen consumed) and says what it found: `(bytes consumed, step)`.
    pub fn advance(&mut self, input: &[u8]) -> (usize, Step) {
        let mut pos = 0;
        loop {
            let rest = &input[pos..];
            match self.state {
                State::Failed(r) => return (pos, Step::Reject(r)),
                State::Head => {
                    return match self.head(rest) {
                        Ok(None) => (pos, Step::NeedMore),
                        Ok(Some((len, req))) => {
                            self.start_body(req.body);
                            (pos + len, Step::Head(req))
                        }
                        Err(r) => (pos, self.fail(r)),
                    };
                }
                State::Fixed { left: 0 } => {
                    self.state = State::Head;
                    return (pos, Step::End);
                }
                State::Fixed { left } | State::ChunkData { left } => {
                    let take = left.min(rest.len() as u64);
                    if take == 0 {
                        return (pos, Step::NeedMore);
                    }
                    let left = left - take;
                    self.state = match self.state {
                        State::Fixed { .. } => State::Fixed { left },
                        _ if left == 0 => State::ChunkEnd,
                        _ => State::ChunkData { left },
                    };
                    let end = pos + take as usize;
                    return (end, Step::Data(pos..end));
                }
                State::ChunkLine => {
                    let Some(len) = self.line(rest, MAX_CHUNK_LINE_BYTES) else {
                        if rest.len() >= MAX_CHUNK_LINE_BYTES {
                            return (pos, self.fail(Reject::BadRequest));
                        }
                        return (pos, Step::NeedMore);
                    };
                    let size = match chunk_size(&rest[..len]) {
                        Some(size) => size,
                        None => return (pos, self.fail(Reject::BadRequest)),
                    };
                    pos += len;
                    self.state = if size == 0 {
                        self.trailer_bytes = 0;
                        State::Trailer
                    } else if size > MAX_BODY_BYTES - self.body_bytes {
                        return (pos, self.fail(Reject::ContentTooLarge));
                    } else {
                        self.body_bytes += size;
                        State::ChunkData { left: size }
                    };
                }
                State::ChunkEnd => {
                    if rest.len() < 2 {
                        return (pos, Step::NeedMore);
                    }
                    if &rest[..2] != b"\r\n" {
                        return (pos, self.fail(Reject::BadRequest));
                    }
                    pos += 2;
                    self.state = State::ChunkLine;
                }
                State::Trailer => {
                    let budget = MAX_TRAILER_BYTES - self.trailer_bytes;
                    let Some(len) = self.line(rest, budget) else {
                        if rest.len() >= budget {
                            return (pos, self.fail(Reject::HeaderFieldsTooLarge));
                        }
                        return (pos, Step::NeedMore);
                    };
                    let Some(field) = rest[..len].strip_suffix(b"\r\n") else {
                        return (pos, self.fail(Reject::BadRequest));
                    };
                    pos += len;
                    self.trailer_bytes += len;
                    if field.is_empty() {
                        self.state = State::Head;
                        return (pos, Step::End);
                    }
                    if !is_field_line(field) {
                        return (pos, self.fail(Reject::BadRequest));
                    }
                }
            }
        }
    }

    /// Enters `r` for good.
    fn fail(&mut self, r: Reject) -> Step {
        self.state = State::Failed(r);
        Step::Reject(r)
    }

    /// Sets up the body after a head.
    fn start_body(&mut self, body: BodyLength) {
        self.scanned = 0;
        self.begun = false;
        self.body_bytes = 0;
        self.state = match body {
            BodyLength::Fixed(n) => State::Fixed { left: n },
            BodyLength::Chunked => State::ChunkLine,
        };
    }

    /// The length of the line (through its LF) at the front of `input`, if its
    /// LF is among the first `limit` bytes; remembers how far it looked.
    fn line(&mut self, input: &[u8], limit: usize) -> Option<usize> {
        let window = &input[..input.len().min(limit)];
        let from = self.scanned.min(window.len());
        match self.find_lf(&window[from..]) {
            Some(i) => {
                self.scanned = 0;
                Some(from + i + 1)
            }
            None => {
                self.scanned = window.len();
                None
            }
        }
    }

    /// The first LF in `s`. Every search goes through here, so that tests can
    /// count the bytes searched.
    fn find_lf(&mut self, s: &[u8]) -> Option<usize> {
        let found = s.iter().position(|&b| b == b'\n');
        #[cfg(test)]
        {
            self.examined += found.map_or(s.len(), |i| i + 1);
        }
        found
    }

    /// The head at the front of `input`: `Ok(None)` while its end is not there,
    /// else its length and the parsed request.
    fn head(&mut self, input: &[u8]) -> Result<Option<(usize, Request)>, Reject> {
        let Some(end) = self.head_end(input) else {
            if input.len() >= MAX_HEADER_BYTES {
                return Err(Reject::HeaderFieldsTooLarge);
            }
            return Ok(None);
        };
        #[cfg(test)]
        {
            self.examined += end;
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut r = httparse::Request::new(&mut headers);
        match r.parse(&input[..end]) {
            // httparse ends a head at the same empty line as `head_end`.
            Ok(httparse::Status::Complete(n)) if n == end => {}
            Ok(_) => return Err(Reject::BadRequest),
            Err(httparse::Error::TooManyHeaders) => return Err(Reject::HeaderFieldsTooLarge),
            Err(_) => return Err(Reject::BadRequest),
        }
        let body = framing(&r)?;
        Ok(Some((end, Request::new(&r, body))))
    }

    /// Where the head at the front of `input` ends (just past its empty line),
    /// if that is within [`MAX_HEADER_BYTES`]. A line ends in LF or CRLF; the
    /// empty line is an LF followed by LF or CRLF, once the request line has
    /// begun (empty lines before it are skipped, as httparse skips them).
    fn head_end(&mut self, input: &[u8]) -> Option<usize> {
        let input = &input[..input.len().min(MAX_HEADER_BYTES)];
        let mut i = self.scanned.min(input.len());
        while !self.begun {
            match input.get(i..).unwrap_or_default() {
                [b'\n', ..] => i += 1,
                [b'\r', b'\n', ..] => i += 2,
                [] | [b'\r'] => {
                    self.scanned = i;
                    return None;
                }
                _ => self.begun = true,
            }
        }
        loop {
            let Some(lf) = self.find_lf(&input[i..]) else {
                self.scanned = input.len();
                return None;
            };
            let lf = i + lf;
            match input.get(lf + 1..).unwrap_or_default() {
                [b'\n', ..] => return Some(lf + 2),
                [b'\r', b'\n', ..] => return Some(lf + 3),
                // Not yet known whether this LF ends the head: look again.
                [] | [b'\r'] => {
                    self.scanned = lf;
                    return None;
                }
                _ => i = lf + 1,
            }
        }
    }
}

/// The body framing of a parsed head (RFC 9112 §6.3; the module doc lists
/// the rules).
///
/// `Transfer-Encoding` with `Content-Length` is refused (400) rather than
/// served by the chunked coding with the length ignored, which RFC 9112 §6.3
/// also allows: the two headers together are how request smuggling starts (a
/// proxy before us that framed by the length would see a different next
/// request than we do), no correct client sends both (§6.2: a sender MUST NOT),
/// and refusing leaves no reading of the message to disagree about. Go's
/// net/http instead ignores the length and serves the request.
fn framing(r: &httparse::Request<'_, '_>) -> Result<BodyLength, Reject> {
    let mut length: Option<&[u8]> = None;
    let mut length_ok = true;
    let mut te_present = false;
    let mut codings = 0; // transfer codings listed, over every TE field
    let mut chunked_at = Vec::new(); // which of them are `chunked`
    for h in r.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = trim_ows(h.value);
            match length {
                Some(prev) if prev != v => length_ok = false,
                _ => length = Some(v),
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            te_present = true;
            for coding in h.value.split(|&b| b == b',').map(trim_ows) {
                // An empty list element counts for nothing (RFC 9110 §5.6.1).
                if !coding.is_empty() {
                    if coding.eq_ignore_ascii_case(b"chunked") {
                        chunked_at.push(codings);
                    }
                    codings += 1;
                }
            }
        }
    }
    if te_present {
        let only_last_is_chunked = codings > 0 && chunked_at == [codings - 1];
        if r.version == Some(0) || length.is_some() || !only_last_is_chunked {
            return Err(Reject::BadRequest);
        }
        if codings > 1 {
            return Err(Reject::NotImplemented);
        }
        return Ok(BodyLength::Chunked);
    }
    match length {
        None => Ok(BodyLength::Fixed(0)),
        Some(v) => match decimal(v) {
            Some(n) if length_ok && n > MAX_BODY_BYTES => Err(Reject::ContentTooLarge),
            Some(n) if length_ok => Ok(BodyLength::Fixed(n)),
            _ => Err(Reject::BadRequest),
        },
    }
}

impl Request {
    /// The owned request of a parse (its framing decided by [`framing`]).
    fn new(r: &httparse::Request<'_, '_>, body: BodyLength) -> Request {
        let mut keep_alive = r.version.unwrap_or(1) >= 1;
        let mut headers = Vec::with_capacity(r.headers.len());
        for h in r.headers.iter() {
            if h.name.eq_ignore_ascii_case("connection") {
                let v = String::from_utf8_lossy(h.value).to_ascii_lowercase();
                if v.contains("close") {
                    keep_alive = false;
                } else if v.contains("keep-alive") {
                    keep_alive = true;
                }
            }
            headers.push((h.name.to_string(), h.value.to_vec()));
        }
        Request {
            path: r.path.unwrap_or("/").to_string(),
            headers,
            keep_alive,
            body,
        }
    }
}

/// `1*DIGIT` as a `u64`; `None` for anything else, an overflow included.
fn decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.iter().try_fold(0u64, |n, &b| {
        let d = (b as char).to_digit(10)?;
        n.checked_mul(10)?.checked_add(u64::from(d))
    })
}

/// The size of a chunk-size line (`line` ends in its LF); `None` if the line
/// breaks the grammar in the module doc or the size overflows a `u64`.
fn chunk_size(line: &[u8]) -> Option<u64> {
    let line = line.strip_suffix(b"\r\n")?;
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return None;
    }
    let size = line[..digits].iter().try_fold(0u64, |n, &b| {
        let d = (b as char).to_digit(16)?;
        n.checked_mul(16)?.checked_add(u64::from(d))
    })?;
    let mut p = &line[digits..];
    loop {
        p = trim_ows_front(p);
        let Some(ext) = p.strip_prefix(b";") else {
            // Only white space may follow the last extension.
            return p.is_empty().then_some(size);
        };
        p = take_token(trim_ows_front(ext))?;
        let after_ws = trim_ows_front(p);
        if let Some(value) = after_ws.strip_prefix(b"=") {
            let value = trim_ows_front(value);
            p = match value.first() {
                Some(b'"') => take_quoted(value)?,
                _ => take_token(value)?,
            };
        }
    }
}

/// A trailer field line (without its CRLF): `token ":" OWS value OWS`, the
/// value of visible characters, spaces and tabs (obs-text allowed).
fn is_field_line(line: &[u8]) -> bool {
    let Some(rest) = take_token(line) else {
        return false;
    };
    match rest.strip_prefix(b":") {
        Some(value) => value
            .iter()
            .all(|&b| b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80),
        None => false,
    }
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// What follows a non-empty token at the front of `p`.
fn take_token(p: &[u8]) -> Option<&[u8]> {
    let n = p.iter().take_while(|&&b| is_tchar(b)).count();
    (n > 0).then(|| &p[n..])
}

/// What follows a quoted-string at the front of `p` (RFC 9110 §5.6.4).
fn take_quoted(p: &[u8]) -> Option<&[u8]> {
    let mut i = 1; // past the opening quote
    loop {
        match *p.get(i)? {
            b'"' => return Some(&p[i + 1..]),
            b'\\' => {
                let escaped = *p.get(i + 1)?;
                if !(escaped == b'\t' || escaped == b' ' || escaped >= 0x21) || escaped == 0x7f {
                    return None;
                }
                i += 2;
            }
            b if b == b'\t' || b == b' ' || (b >= 0x21 && b != 0x7f) => i += 1,
            _ => return None,
        }
    }
}

/// `p` without leading spaces and tabs (OWS, BWS).
fn trim_ows_front(p: &[u8]) -> &[u8] {
    let n = p.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
    &p[n..]
}

/// `p` without leading or trailing spaces and tabs.
fn trim_ows(p: &[u8]) -> &[u8] {
    let p = trim_ows_front(p);
    let n = p
        .iter()
        .rev()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    &p[..p.len() - n]
}
