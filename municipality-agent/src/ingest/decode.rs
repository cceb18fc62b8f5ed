//! Decoding the file's bytes into text: UTF-8 (with or without a byte-order
//! mark) as is, otherwise Windows-1252, and refusing binary, UTF-16 and
//! mixed files; then detecting the delimiter from the header line.

use std::borrow::Cow;

use super::{Decoding, IngestError};

/// The 1-based line of a byte offset, for messages.
fn line_of(bytes: &[u8], offset: usize) -> u64 {
    bytes.iter().take(offset).filter(|&&b| b == b'\n').count() as u64 + 1
}

/// Decodes the file's bytes into text.
pub(super) fn decode<'a>(
    bytes: &'a [u8],
    origin: &str,
) -> Result<(Cow<'a, str>, Decoding), IngestError> {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(IngestError::Utf16 {
            origin: origin.into(),
        });
    }
    // `contains` on bytes is a fast memchr; the position is needed only for the message.
    if bytes.contains(&0) {
        let pos = bytes.iter().position(|&b| b == 0).unwrap_or(0);
        return Err(IngestError::Binary {
            origin: origin.into(),
            line: line_of(bytes, pos),
        });
    }
    let (body, bom) = match bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        Some(rest) => (rest, true),
        None => (bytes, false),
    };
    match std::str::from_utf8(body) {
        Ok(s) => Ok((
            Cow::Borrowed(s),
            if bom {
                Decoding::Utf8Bom
            } else {
                Decoding::Utf8
            },
        )),
        Err(e) => {
            let first_bad = e.valid_up_to() + usize::from(bom) * 3;
            let mixed = bom || body.utf8_chunks().any(|c| !c.valid().is_ascii());
            if mixed {
                return Err(IngestError::MixedEncoding {
                    origin: origin.into(),
                    line: line_of(bytes, first_bad),
                });
            }
            // Bytes Windows-1252 leaves undefined mean the file is something else.
            if let Some(pos) = body
                .iter()
                .position(|b| matches!(b, 0x81 | 0x8D | 0x8F | 0x90 | 0x9D))
            {
                return Err(IngestError::UnknownEncoding {
                    origin: origin.into(),
                    line: line_of(body, pos),
                });
            }
            let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(body);
            Ok((Cow::Owned(text.into_owned()), Decoding::Windows1252))
        }
    }
}

/// `;` when the header line has more semicolons than commas outside quotes, else `,`.
pub(super) fn detect_delimiter(text: &str) -> u8 {
    let header = text
        .split('\n')
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    let (mut quoted, mut commas, mut semis) = (false, 0usize, 0usize);
    for b in header.bytes() {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => commas += 1,
            b';' if !quoted => semis += 1,
            _ => {}
        }
    }
    if semis > commas { b';' } else { b',' }
}
