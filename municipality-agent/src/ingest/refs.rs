//! Duplicate detection on `person_ref`: the references seen so far, kept
//! exactly and only while the file is read.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasherDefault, Hasher};

/// a fast hash), so duplicate detection costs no allocation per row. The
/// arena is dropped when reading ends: references never leave ingest.
#[derive(Default)]
pub(super) struct RefSet {
    arena: Vec<u8>,
    by_hash: HashMap<u64, (usize, usize, u64), BuildHasherDefault<Prehashed>>,
    /// Distinct references whose hash collided with an earlier one.
    collided: HashMap<Box<[u8]>, u64>,
}

impl RefSet {
    /// The line a reference was first seen on, or `None` (and remember it at `line`).
    pub(super) fn first_line_or_insert(&mut self, r: &[u8], line: u64) -> Option<u64> {
        match self.by_hash.entry(fx_hash(r)) {
            Entry::Occupied(e) => {
                let (start, len, first) = *e.get();
                if self.arena.get(start..start + len) == Some(r) {
                    return Some(first);
                }
                if let Some(&first) = self.collided.get(r) {
                    return Some(first);
                }
                self.collided.insert(r.into(), line);
                None
            }
            Entry::Vacant(v) => {
                v.insert((self.arena.len(), r.len(), line));
                self.arena.extend_from_slice(r);
                None
            }
        }
    }
}

/// A multiply-rotate hash (as in rustc's FxHash) over 8-byte words.
fn fx_hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    let mut w = [0u8; 8];
    for (o, &b) in w.iter_mut().zip(chunks.remainder()) {
        *o = b;
    }
    h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    h ^ (h >> 29)
}

/// A hasher for keys that already are hashes.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_set_is_exact() {
        let mut refs = RefSet::default();
        assert_eq!(refs.first_line_or_insert(b"12345678901", 2), None);
        assert_eq!(refs.first_line_or_insert(b"12345678902", 3), None);
        assert_eq!(refs.first_line_or_insert(b"12345678901", 4), Some(2));
        assert_eq!(refs.first_line_or_insert(b"", 5), None);
        assert_eq!(refs.first_line_or_insert(b"", 6), Some(5));
        // Force a hash collision: a distinct reference must still be told apart.
        let h = fx_hash(b"x");
        refs.by_hash.insert(h, (0, 3, 9));
        assert_eq!(refs.first_line_or_insert(b"x", 10), None);
        assert_eq!(refs.first_line_or_insert(b"x", 11), Some(10));
    }
}
