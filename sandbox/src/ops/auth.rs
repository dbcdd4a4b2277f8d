//! OPS access tokens (`shared/api/epo-ops.md` §2). Lifetimes run on real time ([`Instant`]),
//! not on the virtual clock, so a client's own expiry arithmetic stays right.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine;

use crate::credentials::{OPS_CONSUMER_KEY, OPS_CONSUMER_SECRET};

struct Token {
    client_id: String,
    issued: Instant,
    lifetime: Duration,
}

/// A freshly issued token.
pub struct Issued {
    pub access_token: String,
    pub client_id: String,
    pub expires_in: u64,
}

pub struct Tokens {
    seed: u64,
    counter: u64,
    live: HashMap<String, Token>,
}

impl Tokens {
    pub fn new(seed: u64) -> Self {
        Tokens {
            seed,
            counter: 0,
            live: HashMap::new(),
        }
    }

    pub fn issue(&mut self, client_id: &str, lifetime_secs: u64) -> Issued {
        self.live.retain(|_, t| t.issued.elapsed() < t.lifetime);
        self.counter += 1;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let access_token = token_text(self.seed ^ nanos.rotate_left(17), self.counter);
        self.live.insert(
            access_token.clone(),
            Token {
                client_id: client_id.to_owned(),
                issued: Instant::now(),
                lifetime: Duration::from_secs(lifetime_secs),
            },
        );
        Issued {
            access_token,
            client_id: client_id.to_owned(),
            expires_in: lifetime_secs,
        }
    }

    /// The client a live token belongs to.
    pub fn client_of(&self, token: &str) -> Option<&str> {
        self.live
            .get(token)
            .filter(|t| t.issued.elapsed() < t.lifetime)
            .map(|t| t.client_id.as_str())
    }

    /// Forgets every token; returns how many were still live.
    pub fn expire_all(&mut self) -> usize {
        let n = self
            .live
            .values()
            .filter(|t| t.issued.elapsed() < t.lifetime)
            .count();
        self.live.clear();
        n
    }
}

/// 28 characters of [A-Za-z0-9], like the live tokens.
fn token_text(seed: u64, counter: u64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut state = seed ^ counter.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..28)
        .map(|_| {
            state = splitmix64(state);
            ALPHABET[(state % ALPHABET.len() as u64) as usize] as char
        })
        .collect()
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The consumer key of a valid `Authorization: Basic` header.
pub fn check_basic(header: Option<&str>) -> Option<&'static str> {
    let h = header?.trim();
    let (scheme, rest) = h.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (key, secret) = text.split_once(':')?;
    (key == OPS_CONSUMER_KEY && secret == OPS_CONSUMER_SECRET).then_some(OPS_CONSUMER_KEY)
}

/// The token of an `Authorization: Bearer` header (`None` for another scheme).
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// The `application_name` of the token replies: a UUID-like name fixed by the seed.
pub fn application_name(seed: u64) -> String {
    let a = splitmix64(seed);
    let b = splitmix64(a);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_live_for_their_lifetime_and_can_be_expired() {
        let mut t = Tokens::new(7);
        let a = t.issue("sandbox-key", 1199);
        let b = t.issue("sandbox-key", 0);
        assert_eq!(a.access_token.len(), 28);
        assert_ne!(a.access_token, b.access_token);
        assert_eq!(t.client_of(&a.access_token), Some("sandbox-key"));
        assert_eq!(t.client_of(&b.access_token), None);
        assert_eq!(t.client_of("nope"), None);
        assert_eq!(t.expire_all(), 1);
        assert_eq!(t.client_of(&a.access_token), None);
    }

    #[test]
    fn basic_and_bearer_headers() {
        let good = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("sandbox-key:sandbox-secret")
        );
        assert_eq!(check_basic(Some(&good)), Some("sandbox-key"));
        let bad = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("sandbox-key:x")
        );
        assert_eq!(check_basic(Some(&bad)), None);
        assert_eq!(check_basic(Some("Bearer x")), None);
        assert_eq!(check_basic(None), None);
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(application_name(1).len(), 36);
    }
}
