//! A tiny deterministic PRNG (SplitMix64) and the id formats the API uses.

/// A 12-byte Mongo ObjectId: 4 bytes of creation epoch seconds, then 8 random bytes.
pub(crate) type Oid = [u8; 12];

/// SplitMix64: small, fast and good enough for fixtures.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

/// The SplitMix64 finaliser, also used to hash small values.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(mix(seed ^ 0x5DEE_CE66_D1CE_4E5B))
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Uniform in `0..n` (0 when `n == 0`).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..hi` (`lo` when the range is empty).
    pub(crate) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            lo
        } else {
            lo + self.below((hi - lo) as u64) as i64
        }
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn between(&mut self, lo: usize, hi: usize) -> usize {
        if hi <= lo {
            lo
        } else {
            lo + self.below((hi - lo + 1) as u64) as usize
        }
    }

    pub(crate) fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.f64() < p
    }

    pub(crate) fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }

    /// A random UUID v4 as a number (version and variant bits set).
    pub(crate) fn uuid(&mut self) -> u128 {
        let v = (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64());
        let mut b = v.to_be_bytes();
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        u128::from_be_bytes(b)
    }

    /// An ObjectId created at `secs` (epoch seconds).
    pub(crate) fn oid(&mut self, secs: i64) -> Oid {
        let mut id = [0u8; 12];
        id[..4].copy_from_slice(&(secs as u32).to_be_bytes());
        id[4..].copy_from_slice(&self.next_u64().to_be_bytes());
        id
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

pub(crate) fn oid_hex(id: &Oid) -> String {
    hex(id)
}

/// Parses a 24-hex ObjectId (either case).
pub(crate) fn parse_oid(s: &str) -> Option<Oid> {
    let b = unhex(s)?;
    b.try_into().ok()
}

pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() & 1 == 1 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    s.as_bytes()
        .chunks(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

pub(crate) fn uuid_str(u: u128) -> String {
    let h = hex(&u.to_be_bytes());
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_documented_shape() {
        let mut r = Rng::new(7);
        let id = r.oid(0x631a0fa2);
        let h = oid_hex(&id);
        assert_eq!(h.len(), 24);
        assert!(h.starts_with("631a0fa2"));
        assert_eq!(parse_oid(&h), Some(id));
        let u = uuid_str(r.uuid());
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn below_stays_in_range() {
        let mut r = Rng::new(1);
        assert!((0..1000).all(|_| r.below(7) < 7));
        assert_eq!(r.below(0), 0);
    }
}
