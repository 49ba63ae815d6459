//! RecordIO stream framing (`docs/recordio.md`, `stout/recordio.hpp`).
//!
//! Every record goes out as `<decimal byte length>\n<bytes>`. There is no
//! trailing newline, no magic header and no length for the stream as a whole.
//! Upstream uses this framing on the scheduler, executor and operator
//! `SUBSCRIBE` streams and on the agent's streaming calls.
//!
//! This module owns the framing only: it never looks inside a record (callers
//! decode the protobuf or JSON themselves) and does no I/O. Chunk boundaries
//! are arbitrary: a proxy may re-chunk a stream, so the [`Decoder`] buffers
//! across [`Decoder::feed`] calls and works with any split, down to one byte
//! at a time.
//!
//! Header rules, decided against stout's decoder:
//! - the header is one or more ASCII digits (`numify<size_t>`); leading zeros
//!   are accepted (`007` is 7); a sign, whitespace, `\r` or any other byte is
//!   an [`RecordIoError::InvalidHeader`], and so is an empty header (`"\n"`);
//! - a value that does not fit in a `u64` is [`RecordIoError::Overflow`];
//! - a length above the decoder's limit is [`RecordIoError::RecordTooLarge`],
//!   reported as soon as the header ends, before any byte of the body is
//!   buffered;
//! - a length of 0 is accepted and yields an empty record. Upstream encoders
//!   never write one (every Mesos message has a required field, so it never
//!   encodes to zero bytes), but stout's decoder delivers `0\n` as an empty
//!   record rather than failing, and so do we: the caller's message decoder
//!   then rejects it.
//!
//! Like stout, the decoder stops at the first error and keeps returning it:
//! once a header is bad there is no way to find the next record boundary.

use std::fmt::Write as _;

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Why a RecordIO stream could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordIoError {
    /// The length header is not a decimal number.
    #[error("Failed to decode RecordIO length header: {reason}")]
    InvalidHeader {
        /// What was wrong, for the error message.
        reason: String,
    },
    /// The length header does not fit in a `u64`.
    #[error("Failed to decode RecordIO length header: the length overflows a 64-bit integer")]
    Overflow,
    /// The record is longer than the decoder accepts.
    #[error("RecordIO record of {length} bytes exceeds the maximum record size of {max} bytes")]
    RecordTooLarge {
        /// The length the header announced.
        length: u64,
        /// The decoder's limit.
        max: usize,
    },
}

/// Frames one record: `<len>\n<record>`.
pub fn encode(record: &[u8]) -> Bytes {
    // 20 digits hold any u64, plus the newline.
    let mut out = BytesMut::with_capacity(record.len() + 21);
    encode_into(record, &mut out);
    out.freeze()
}

/// Appends one framed record to `out` (lets a writer batch several records
/// into one buffer).
pub fn encode_into(record: &[u8], out: &mut BytesMut) {
    out.reserve(record.len() + 21);
    // Writing an integer into a BytesMut cannot fail: it grows as needed.
    let _ = writeln!(out, "{}", record.len());
    out.put_slice(record);
}

#[derive(Debug, Clone)]
enum State {
    /// Reading the length header; `value` so far from `digits` digits.
    Header { value: u64, digits: usize },
    /// Waiting for `length` bytes of record body.
    Body { length: usize },
    /// A bad header was seen; the stream cannot be resynchronised.
    Failed(RecordIoError),
}

/// Incremental RecordIO decoder: [`feed`](Decoder::feed) it chunks as they
/// arrive and pull records with [`next_record`](Decoder::next_record).
#[derive(Debug)]
pub struct Decoder {
    max_record_size: usize,
    buffer: BytesMut,
    state: State,
}

impl Decoder {
    /// A decoder that refuses records longer than `max_record_size` bytes.
    pub fn new(max_record_size: usize) -> Decoder {
        Decoder {
            max_record_size,
            buffer: BytesMut::new(),
            state: State::Header {
                value: 0,
                digits: 0,
            },
        }
    }

    /// Appends a chunk of the stream. Chunks need not align with records.
    pub fn feed(&mut self, chunk: &[u8]) {
        if matches!(self.state, State::Failed(_)) {
            // Nothing more will ever be decoded; do not grow the buffer.
            return;
        }
        self.buffer.extend_from_slice(chunk);
    }

    /// The next complete record, `Ok(None)` when more bytes are needed, or
    /// the error that stopped the stream (returned again on every later call).
    pub fn next_record(&mut self) -> Result<Option<Bytes>, RecordIoError> {
        loop {
            match self.state {
                State::Failed(ref error) => return Err(error.clone()),
                State::Header { value, digits } => {
                    match self.scan_header(value, digits) {
                        Ok(true) => continue, // Header complete, now in Body.
                        Ok(false) => return Ok(None),
                        Err(error) => {
                            self.buffer = BytesMut::new();
                            self.state = State::Failed(error.clone());
                            return Err(error);
                        }
                    }
                }
                State::Body { length } => {
                    if self.buffer.len() < length {
                        return Ok(None);
                    }
                    let record = self.buffer.split_to(length).freeze();
                    self.state = State::Header {
                        value: 0,
                        digits: 0,
                    };
                    return Ok(Some(record));
                }
            }
        }
    }

    /// True when part of a record (a header or a body) has been fed but not
    /// yet returned: at end of stream this means the stream was truncated.
    pub fn has_partial_record(&self) -> bool {
        match self.state {
            State::Header { digits, .. } => digits > 0 || !self.buffer.is_empty(),
            State::Body { .. } => true,
            State::Failed(_) => false,
        }
    }

    /// Consumes header bytes from the buffer. `Ok(true)` once the newline
    /// was seen (state is then `Body`); `Ok(false)` if the buffer ran out
    /// first (the partial value is kept in the state, the digits consumed).
    fn scan_header(&mut self, mut value: u64, mut digits: usize) -> Result<bool, RecordIoError> {
        let mut consumed = 0;
        let mut complete = false;
        for &byte in self.buffer.iter() {
            consumed += 1;
            match byte {
                b'\n' => {
                    complete = true;
                    break;
                }
                b'0'..=b'9' => {
                    value = value
                        .checked_mul(10)
                        .and_then(|v| v.checked_add(u64::from(byte - b'0')))
                        .ok_or(RecordIoError::Overflow)?;
                    digits += 1;
                }
                other => {
                    return Err(RecordIoError::InvalidHeader {
                        reason: format!(
                            "unexpected byte {:?} at offset {} of the length",
                            char::from(other),
                            digits
                        ),
                    });
                }
            }
        }
        self.buffer.advance(consumed);

        if !complete {
            self.state = State::Header { value, digits };
            return Ok(false);
        }
        if digits == 0 {
            return Err(RecordIoError::InvalidHeader {
                reason: "empty length".to_string(),
            });
        }
        let length = match usize::try_from(value) {
            Ok(length) if length <= self.max_record_size => length,
            _ => {
                return Err(RecordIoError::RecordTooLarge {
                    length: value,
                    max: self.max_record_size,
                })
            }
        };
        self.state = State::Body { length };
        Ok(true)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn drain(decoder: &mut Decoder) -> Result<Vec<Bytes>, RecordIoError> {
        let mut out = Vec::new();
        while let Some(record) = decoder.next_record()? {
            out.push(record);
        }
        Ok(out)
    }

    fn sample_records() -> Vec<Vec<u8>> {
        vec![
            b"hello".to_vec(),
            b"world!".to_vec(),
            b"{\"type\":\"HEARTBEAT\"}".to_vec(),
            vec![0u8, b'\n', 1, 2, b'9', b'\n'], // binary body with newlines and digits
            vec![b'x'; 1234],
            "\u{00e9}t\u{00e9}".as_bytes().to_vec(), // length counts UTF-8 bytes
        ]
    }

    fn sample_stream() -> Vec<u8> {
        let mut out = BytesMut::new();
        for record in sample_records() {
            encode_into(&record, &mut out);
        }
        out.to_vec()
    }

    #[test]
    fn encode_writes_decimal_length_newline_body() {
        assert_eq!(&encode(b"hello")[..], b"5\nhello");
        assert_eq!(&encode(b"")[..], b"0\n");
        assert_eq!(&encode("é".as_bytes())[..], "2\né".as_bytes());
        let mut out = BytesMut::new();
        encode_into(b"ab", &mut out);
        encode_into(b"cde", &mut out);
        assert_eq!(&out[..], b"2\nab3\ncde");
    }

    #[test]
    fn whole_stream_in_one_chunk() {
        let mut decoder = Decoder::new(1 << 20);
        decoder.feed(&sample_stream());
        let records = drain(&mut decoder).unwrap();
        let expected: Vec<Bytes> = sample_records().into_iter().map(Bytes::from).collect();
        assert_eq!(records, expected);
        assert!(!decoder.has_partial_record());
    }

    #[test]
    fn every_split_point_gives_the_same_records() {
        let stream = sample_stream();
        let expected: Vec<Bytes> = sample_records().into_iter().map(Bytes::from).collect();
        for split in 0..=stream.len() {
            let mut decoder = Decoder::new(1 << 20);
            decoder.feed(&stream[..split]);
            let mut records = drain(&mut decoder).unwrap();
            decoder.feed(&stream[split..]);
            records.extend(drain(&mut decoder).unwrap());
            assert_eq!(records, expected, "split at {split}");
            assert!(!decoder.has_partial_record());
        }
    }

    #[test]
    fn every_pair_of_split_points_gives_the_same_records() {
        // Three chunks: catches state carried wrongly across two boundaries
        // (e.g. a header split in two places).
        let mut out = BytesMut::new();
        for record in [&b"abc"[..], b"", b"0123456789ab"] {
            encode_into(record, &mut out);
        }
        let stream = out.to_vec();
        for a in 0..=stream.len() {
            for b in a..=stream.len() {
                let mut decoder = Decoder::new(64);
                let mut records = Vec::new();
                for chunk in [&stream[..a], &stream[a..b], &stream[b..]] {
                    decoder.feed(chunk);
                    records.extend(drain(&mut decoder).unwrap());
                }
                assert_eq!(
                    records,
                    vec![
                        Bytes::from_static(b"abc"),
                        Bytes::new(),
                        Bytes::from_static(b"0123456789ab")
                    ],
                    "splits at {a} and {b}"
                );
            }
        }
    }

    #[test]
    fn byte_by_byte() {
        let stream = sample_stream();
        let mut decoder = Decoder::new(1 << 20);
        let mut records = Vec::new();
        for byte in &stream {
            decoder.feed(std::slice::from_ref(byte));
            records.extend(drain(&mut decoder).unwrap());
        }
        let expected: Vec<Bytes> = sample_records().into_iter().map(Bytes::from).collect();
        assert_eq!(records, expected);
    }

    #[test]
    fn partial_record_is_reported() {
        let mut decoder = Decoder::new(100);
        assert!(!decoder.has_partial_record());
        decoder.feed(b"1");
        assert_eq!(decoder.next_record(), Ok(None));
        assert!(decoder.has_partial_record());
        decoder.feed(b"0\nabc");
        assert_eq!(decoder.next_record(), Ok(None));
        assert!(decoder.has_partial_record());
        decoder.feed(b"defghij");
        assert_eq!(
            decoder.next_record(),
            Ok(Some(Bytes::from_static(b"abcdefghij")))
        );
        assert!(!decoder.has_partial_record());
        assert_eq!(decoder.next_record(), Ok(None));
    }

    #[test]
    fn zero_length_record_is_an_empty_record() {
        let mut decoder = Decoder::new(10);
        decoder.feed(b"0\n0\n3\nabc");
        assert_eq!(
            drain(&mut decoder).unwrap(),
            vec![Bytes::new(), Bytes::new(), Bytes::from_static(b"abc")]
        );
    }

    #[test]
    fn leading_zeros_are_accepted() {
        let mut decoder = Decoder::new(10);
        decoder.feed(b"003\nabc");
        assert_eq!(
            drain(&mut decoder).unwrap(),
            vec![Bytes::from_static(b"abc")]
        );
    }

    #[test]
    fn invalid_headers() {
        for bad in [
            &b"\nabc"[..],
            b"-1\n",
            b"+1\n",
            b" 1\n",
            b"1 \n",
            b"1\r\nx",
            b"0x10\n",
            b"abc",
            b"1.5\n",
        ] {
            let mut decoder = Decoder::new(100);
            decoder.feed(bad);
            match decoder.next_record() {
                Err(RecordIoError::InvalidHeader { .. }) => {}
                other => panic!("{:?} gave {other:?}", String::from_utf8_lossy(bad)),
            }
        }
    }

    #[test]
    fn error_is_sticky() {
        let mut decoder = Decoder::new(100);
        decoder.feed(b"3\nabcX\n");
        assert_eq!(decoder.next_record(), Ok(Some(Bytes::from_static(b"abc"))));
        let error = decoder.next_record().unwrap_err();
        assert!(matches!(error, RecordIoError::InvalidHeader { .. }));
        decoder.feed(b"1\na");
        assert_eq!(decoder.next_record(), Err(error));
        assert!(!decoder.has_partial_record());
    }

    #[test]
    fn overflow_is_distinct() {
        let mut decoder = Decoder::new(usize::MAX);
        decoder.feed(b"18446744073709551616\n"); // u64::MAX + 1
        assert_eq!(decoder.next_record(), Err(RecordIoError::Overflow));

        // Detected while the digits arrive, without waiting for the newline.
        let mut decoder = Decoder::new(usize::MAX);
        decoder.feed(&[b'9'; 25]);
        assert_eq!(decoder.next_record(), Err(RecordIoError::Overflow));

        // u64::MAX itself is a valid length, only too large.
        let mut decoder = Decoder::new(1000);
        decoder.feed(b"18446744073709551615\n");
        assert!(matches!(
            decoder.next_record(),
            Err(RecordIoError::RecordTooLarge {
                length: u64::MAX,
                max: 1000
            })
        ));
    }

    #[test]
    fn too_large_is_reported_before_the_body_arrives() {
        let mut decoder = Decoder::new(4);
        decoder.feed(b"4\nabcd5\n");
        assert_eq!(decoder.next_record(), Ok(Some(Bytes::from_static(b"abcd"))));
        // Only the header of the 5-byte record is there: the error must not
        // wait for (or buffer) the body.
        assert_eq!(
            decoder.next_record(),
            Err(RecordIoError::RecordTooLarge { length: 5, max: 4 })
        );
        let message = decoder.next_record().unwrap_err().to_string();
        assert!(message.contains("5 bytes"), "{message}");
    }

    #[test]
    fn error_messages_are_clear() {
        let mut decoder = Decoder::new(4);
        decoder.feed(b"1a\n");
        let message = decoder.next_record().unwrap_err().to_string();
        assert!(message.contains("length header"), "{message}");
        assert!(message.contains("'a'"), "{message}");
    }
}
