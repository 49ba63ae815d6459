//! The CRAM-MD5 mechanism (RFC 2195) as Mesos speaks it over SASL: the
//! server sends a challenge `<random.timestamp@hostname>`, the client
//! answers `principal ' ' hex(HMAC-MD5(secret, challenge))`, lowercase hex,
//! not base64-encoded (the SASL framing already carries raw bytes).
//!
//! Owns the arithmetic and the parsing of a response, bounded by
//! [`MAX_RESPONSE`]. Never logs or returns a secret; digests are compared in
//! constant time.

use hmac::{Hmac, Mac};
use md5::Md5;
use subtle::ConstantTimeEq;

/// The mechanism's name in `AuthenticationMechanismsMessage`.
pub const MECHANISM: &str = "CRAM-MD5";

/// Longest principal a response may carry (Cyrus SASL's user-name bound).
pub const MAX_PRINCIPAL: usize = 1024;

/// Longest response accepted: a principal, a space and 32 hex digits.
pub const MAX_RESPONSE: usize = MAX_PRINCIPAL + 1 + DIGEST_HEX;

const DIGEST_HEX: usize = 32;

/// Why a response was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    /// Not `principal digest` (a protocol error, answered with an error).
    #[error("malformed CRAM-MD5 response: {0}")]
    Malformed(&'static str),
}

/// A challenge for one exchange, unique by its random part and time.
pub fn challenge(random: u64, unix_secs: u64, hostname: &str) -> Vec<u8> {
    // A hostname with '>' or whitespace would break the framing; use a
    // neutral one instead (the challenge only needs to be unique).
    let host = if hostname.is_empty()
        || hostname.len() > 255
        || hostname
            .bytes()
            .any(|b| b == b'>' || b == b'<' || b.is_ascii_whitespace() || b.is_ascii_control())
    {
        "localhost"
    } else {
        hostname
    };
    format!("<{random}.{unix_secs}@{host}>").into_bytes()
}

/// `None` only if HMAC refused the key, which it never does for MD5 (any
/// key length is accepted); callers treat `None` as "does not match".
fn digest(secret: &[u8], challenge: &[u8]) -> Option<[u8; 16]> {
    let mut mac = <Hmac<Md5> as Mac>::new_from_slice(secret).ok()?;
    mac.update(challenge);
    Some(mac.finalize().into_bytes().into())
}

/// The client's answer to `challenge`.
pub fn response(principal: &str, secret: &[u8], challenge: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(principal.len() + 1 + DIGEST_HEX);
    out.extend_from_slice(principal.as_bytes());
    out.push(b' ');
    for byte in digest(secret, challenge)? {
        out.extend_from_slice(format!("{byte:02x}").as_bytes());
    }
    Some(out)
}

/// A parsed response: who claims to answer, and the digest they sent.
#[derive(Debug, PartialEq, Eq)]
pub struct Response<'a> {
    pub principal: &'a str,
    digest: [u8; 16],
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Parses `principal ' ' hex-digest`; the principal is everything before
/// the last space (it may not be empty and must be UTF-8).
pub fn parse_response(data: &[u8]) -> Result<Response<'_>, ResponseError> {
    if data.len() > MAX_RESPONSE {
        return Err(ResponseError::Malformed("response too long"));
    }
    let space = data
        .iter()
        .rposition(|b| *b == b' ')
        .ok_or(ResponseError::Malformed(
            "no space between principal and digest",
        ))?;
    let (principal, hex) = (&data[..space], &data[space + 1..]);
    if principal.is_empty() {
        return Err(ResponseError::Malformed("empty principal"));
    }
    if hex.len() != DIGEST_HEX {
        return Err(ResponseError::Malformed("digest is not 32 hex digits"));
    }
    let principal = std::str::from_utf8(principal)
        .map_err(|_| ResponseError::Malformed("principal is not UTF-8"))?;
    let mut digest = [0u8; 16];
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        let (Some(high), Some(low)) = (hex_value(pair[0]), hex_value(pair[1])) else {
            return Err(ResponseError::Malformed("digest is not hexadecimal"));
        };
        digest[i] = high << 4 | low;
    }
    Ok(Response { principal, digest })
}

impl Response<'_> {
    /// Whether the digest is `secret`'s answer to `challenge`, in time that
    /// does not depend on where a wrong digest differs.
    pub fn verify(&self, secret: &[u8], challenge: &[u8]) -> bool {
        digest(secret, challenge).is_some_and(|d| bool::from(d.ct_eq(&self.digest)))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    // RFC 2195, section 2.
    const RFC_CHALLENGE: &[u8] = b"<1896.697170952@postoffice.reston.mci.net>";
    const RFC_RESPONSE: &[u8] = b"tim b913a602c7eda7a495b4e6e7334d3890";

    #[test]
    fn rfc2195_example_response() {
        assert_eq!(
            response("tim", b"tanstaaftanstaaf", RFC_CHALLENGE).unwrap(),
            RFC_RESPONSE
        );
    }

    #[test]
    fn rfc2195_example_verifies_and_wrong_secret_does_not() {
        let parsed = parse_response(RFC_RESPONSE).unwrap();
        assert_eq!(parsed.principal, "tim");
        assert!(parsed.verify(b"tanstaaftanstaaf", RFC_CHALLENGE));
        assert!(!parsed.verify(b"tanstaaftanstaaF", RFC_CHALLENGE));
        assert!(!parsed.verify(b"tanstaaftanstaaf", b"<1897.697170952@x>"));
        // Upper-case hex is the same digest.
        let upper = parse_response(b"tim B913A602C7EDA7A495B4E6E7334D3890").unwrap();
        assert!(upper.verify(b"tanstaaftanstaaf", RFC_CHALLENGE));
    }

    #[test]
    fn principal_may_contain_spaces_and_keys_may_be_long() {
        let secret = vec![7u8; 200];
        let r = response("a b", &secret, b"<1.2@h>").unwrap();
        let parsed = parse_response(&r).unwrap();
        assert_eq!(parsed.principal, "a b");
        assert!(parsed.verify(&secret, b"<1.2@h>"));
    }

    #[test]
    fn malformed_responses_are_errors() {
        for bad in [
            &b""[..],
            b"tim",
            b" b913a602c7eda7a495b4e6e7334d3890",
            b"tim b913a602c7eda7a495b4e6e7334d389",
            b"tim b913a602c7eda7a495b4e6e7334d38900",
            b"tim g913a602c7eda7a495b4e6e7334d3890",
            b"tim ",
            b"\xff\xfe b913a602c7eda7a495b4e6e7334d3890",
        ] {
            assert!(parse_response(bad).is_err(), "{bad:?}");
        }
        let long = vec![b'a'; MAX_RESPONSE + 1];
        assert!(parse_response(&long).is_err());
    }

    #[test]
    fn challenge_has_the_sasl_shape() {
        assert_eq!(challenge(12, 34, "host.example"), b"<12.34@host.example>");
        assert_eq!(challenge(1, 2, "bad>host"), b"<1.2@localhost>");
    }
}
