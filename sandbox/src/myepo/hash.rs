//! Small deterministic hash and pseudo-random helpers.
//!
//! Everything the mailbox generates (ids, dates, sizes, PDF bytes) is a pure function of the
//! seed, so two sandboxes with the same seed serve the same bytes. These helpers are not
//! cryptographic and need not be: they only have to be stable across runs and platforms.

/// One step of SplitMix64 (Steele, Lea and Flood 2014): a good 64-bit mixer.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a over bytes, to turn a string key into a number.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

/// Mixes the seed with a string key and a salt into one number.
pub fn keyed(seed: u64, key: &str, salt: u64) -> u64 {
    splitmix64(splitmix64(seed ^ salt) ^ fnv1a64(key.as_bytes()))
}

/// A SplitMix64 sequence: the generator behind the PDF padding bytes.
#[derive(Clone, Debug)]
pub struct SplitMix(u64);

impl SplitMix {
    pub fn new(state: u64) -> Self {
        SplitMix(state)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        splitmix64(self.0)
    }

    /// Fills `buf` with the next bytes of the sequence (8 per step, little-endian). A
    /// partial last step is cut, so the sequence only matches across calls whose buffers
    /// have lengths that are multiples of 8, which is how the PDF writer uses it.
    pub fn fill(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for c in &mut chunks {
            c.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            let v = self.next_u64().to_le_bytes();
            rest.copy_from_slice(&v[..rest.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_in_pieces_equals_fill_at_once() {
        let mut a = SplitMix::new(7);
        let mut whole = [0u8; 64];
        a.fill(&mut whole);
        let mut b = SplitMix::new(7);
        let mut first = [0u8; 40];
        let mut second = [0u8; 24];
        b.fill(&mut first);
        b.fill(&mut second);
        assert_eq!(&whole[..40], &first);
        assert_eq!(&whole[40..], &second);
    }

    #[test]
    fn keyed_depends_on_every_input() {
        let base = keyed(1, "abc", 0);
        assert_ne!(base, keyed(2, "abc", 0));
        assert_ne!(base, keyed(1, "abd", 0));
        assert_ne!(base, keyed(1, "abc", 1));
        assert_eq!(base, keyed(1, "abc", 0));
    }
}
