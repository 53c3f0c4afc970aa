//! HTTP/1.x on the wire: a request head parsed from the bytes read so far (httparse), and a
//! response encoded into one buffer (one write, so Nagle never holds half of it back).

/// Headers one request may carry; more is answered 431 like a head over the size cap.
const MAX_HEADERS: usize = 64;

/// What a connection needs from a request head.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Head {
    pub(crate) method: String,
    pub(crate) target: String,
    /// HTTP/1.1 (not 1.0).
    pub(crate) http11: bool,
    /// Whether the client asked to keep the connection for further requests.
    pub(crate) keep_alive: bool,
    pub(crate) body: BodyLength,
    /// `Expect: 100-continue`: the client waits for a go-ahead before sending its body.
    pub(crate) expect_continue: bool,
}

/// How the request's body is delimited.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub(crate) enum BodyLength {
    None,
    Fixed(u64),
    Chunked,
}

/// The outcome of parsing the bytes read so far.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// The head is not complete yet.
    Partial,
    /// The head, and how many bytes of the buffer it took.
    Done(Head, usize),
    /// More headers than we take: answered like a head that is too large (431).
    TooManyHeaders,
    /// Not HTTP/1.x, or a head we cannot frame safely: answered 400.
    Bad(&'static str),
}

/// Parses a request head from the start of `buf`.
pub(crate) fn parse(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Ok(httparse::Status::Complete(len)) => len,
        Err(httparse::Error::TooManyHeaders) => return Parsed::TooManyHeaders,
        Err(httparse::Error::Version) => {
            return Parsed::Bad("only HTTP/1.0 and HTTP/1.1 are served")
        }
        Err(_) => return Parsed::Bad("a malformed request head"),
    };
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Parsed::Partial;
    };
    let http11 = version == 1;
    let mut close = false;
    let mut keep = false;
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut other_coding = false;
    let mut expect_continue = false;
    for h in req.headers.iter() {
        let value = String::from_utf8_lossy(h.value);
        if h.name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                close |= token.eq_ignore_ascii_case("close");
                keep |= token.eq_ignore_ascii_case("keep-alive");
            }
        } else if h.name.eq_ignore_ascii_case("content-length") {
            let Ok(n) = value.trim().parse::<u64>() else {
                return Parsed::Bad("an invalid Content-Length");
            };
            if length.is_some_and(|l| l != n) {
                return Parsed::Bad("two different Content-Length headers");
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            let last = value.rsplit(',').next().unwrap_or("").trim();
            if last.eq_ignore_ascii_case("chunked") {
                chunked = true;
            } else {
                other_coding = true;
            }
        } else if h.name.eq_ignore_ascii_case("expect") {
            expect_continue = value.trim().eq_ignore_ascii_case("100-continue");
        }
    }
    if other_coding {
        return Parsed::Bad("a Transfer-Encoding other than chunked");
    }
    let body = match (chunked, length) {
        (true, Some(_)) => return Parsed::Bad("both Content-Length and Transfer-Encoding"),
        (true, None) => BodyLength::Chunked,
        (false, Some(0) | None) => BodyLength::None,
        (false, Some(n)) => BodyLength::Fixed(n),
    };
    Parsed::Done(
        Head {
            method: method.to_string(),
            target: target.to_string(),
            http11,
            keep_alive: if http11 { !close } else { keep && !close },
            body,
            expect_continue,
        },
        len,
    )
}

/// A response's body: the page's files are compiled in and never copied until written.
#[derive(Debug)]
pub(crate) enum Body {
    Static(&'static str),
    Owned(String),
}

impl Body {
    fn as_bytes(&self) -> &[u8] {
        match self {
            Body::Static(s) => s.as_bytes(),
            Body::Owned(s) => s.as_bytes(),
        }
    }
}

/// One response, before encoding.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) content_type: &'static str,
    pub(crate) body: Body,
    /// The `Allow` header of a 405.
    pub(crate) allow: Option<&'static str>,
}

impl Response {
    pub(crate) fn new(status: u16, content_type: &'static str, body: Body) -> Response {
        Response {
            status,
            content_type,
            body,
            allow: None,
        }
    }

    /// A plain-text response.
    pub(crate) fn text(status: u16, body: impl Into<String>) -> Response {
        Response::new(
            status,
            "text/plain; charset=utf-8",
            Body::Owned(body.into()),
        )
    }

    /// Status line, headers and (unless `head_only`, for HEAD) the body, in one buffer.
    pub(crate) fn encode(&self, http11: bool, keep_alive: bool, head_only: bool) -> Vec<u8> {
        let body = self.body.as_bytes();
        let version = if http11 { "HTTP/1.1" } else { "HTTP/1.0" };
        let mut head = format!(
            "{version} {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            body.len()
        );
        if let Some(allow) = self.allow {
            head.push_str("Allow: ");
            head.push_str(allow);
            head.push_str("\r\n");
        }
        match (keep_alive, http11) {
            (false, _) => head.push_str("Connection: close\r\n"),
            (true, false) => head.push_str("Connection: keep-alive\r\n"),
            (true, true) => {}
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        if !head_only {
            out.extend_from_slice(body);
        }
        out
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(raw: &str) -> Head {
        match parse(raw.as_bytes()) {
            Parsed::Done(head, len) => {
                assert_eq!(len, raw.len());
                head
            }
            other => panic!("{raw:?}: {other:?}"),
        }
    }

    #[test]
    fn heads_are_framed_and_keep_alive_follows_the_version() {
        assert_eq!(parse(b"GET / HTTP/1.1\r\nHost: x\r\n"), Parsed::Partial);
        let h = done("GET /api/health?x=1 HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(
            (h.method.as_str(), h.target.as_str()),
            ("GET", "/api/health?x=1")
        );
        assert!(h.http11 && h.keep_alive);
        assert_eq!(h.body, BodyLength::None);
        assert!(!done("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive);
        assert!(!done("GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(done("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
        let h = done("POST / HTTP/1.1\r\nContent-Length: 12\r\nExpect: 100-continue\r\n\r\n");
        assert_eq!(h.body, BodyLength::Fixed(12));
        assert!(h.expect_continue);
        let h = done("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(h.body, BodyLength::Chunked);
    }

    #[test]
    fn heads_that_cannot_be_framed_safely_are_refused() {
        assert!(matches!(parse(b"GET / HTTP/2.0\r\n\r\n"), Parsed::Bad(_)));
        assert!(matches!(
            parse(b"\x01\x02 nonsense\r\n\r\n"),
            Parsed::Bad(_)
        ));
        let smuggle = b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(matches!(parse(smuggle), Parsed::Bad(_)));
        let twice = b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n";
        assert!(matches!(parse(twice), Parsed::Bad(_)));
        let mut many = String::from("GET / HTTP/1.1\r\n");
        for i in 0..100 {
            many.push_str(&format!("X-{i}: y\r\n"));
        }
        many.push_str("\r\n");
        assert_eq!(parse(many.as_bytes()), Parsed::TooManyHeaders);
    }

    #[test]
    fn responses_carry_length_and_connection_and_head_has_no_body() {
        let r = Response::text(404, "no such page: /x\n");
        let full = String::from_utf8(r.encode(true, false, false)).unwrap();
        assert!(full.starts_with("HTTP/1.1 404 Not Found\r\n"), "{full}");
        assert!(full.contains("Content-Length: 17\r\n"));
        assert!(full.contains("Connection: close\r\n"));
        assert!(full.ends_with("\r\n\r\nno such page: /x\n"));
        let head = String::from_utf8(r.encode(true, true, true)).unwrap();
        assert!(head.ends_with("\r\n\r\n") && head.contains("Content-Length: 17\r\n"));
        assert!(!head.contains("Connection:"));
    }
}
