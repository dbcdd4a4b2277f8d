//! Tokens of `POST /auth/token` (`jpo.md` §2): Keycloak-like, JWT-looking, with lifetimes on
//! real time (`Instant`), not on the virtual clock.
//!
//! Decisions the contract leaves open:
//! * A refresh token is single-use: a refresh grant consumes it and issues a new pair ("used"
//!   tokens answer `Token is not active`, §2.3). The access tokens issued before stay valid
//!   until they expire, as do all tokens of earlier logins (§2.2).
//! * Tokens are not persisted: a restarted sandbox knows none, and clients log in again after
//!   the 401/210.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// Lifetimes of newly issued tokens (`POST /_sandbox/jpo/settings`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lifetimes {
    pub access_secs: u64,
    pub refresh_secs: u64,
}

impl Default for Lifetimes {
    /// The live values: 1 h and 8 h (§2.2).
    fn default() -> Self {
        Lifetimes {
            access_secs: 3600,
            refresh_secs: 28_800,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Access,
    Refresh,
}

#[derive(Debug)]
struct Issued {
    user: String,
    kind: Kind,
    expires: Instant,
}

/// Why a refresh grant failed: the only answer is 400 `invalid_grant` "Token is not active".
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("Token is not active")]
pub struct NotActive;

#[derive(Debug)]
pub struct Tokens {
    seed: u64,
    draws: u64,
    live: HashMap<String, Issued>,
}

impl Tokens {
    pub fn new(seed: u64) -> Self {
        Tokens {
            seed,
            draws: 0,
            live: HashMap::new(),
        }
    }

    /// A password grant that passed the credential check: the token response body.
    pub fn login(&mut self, user: &str, life: Lifetimes, now: Instant) -> Value {
        self.prune(now);
        self.issue(user, life, now)
    }

    /// A refresh grant: consumes `refresh_token` and issues a new pair.
    pub fn refresh(
        &mut self,
        refresh_token: &str,
        life: Lifetimes,
        now: Instant,
    ) -> Result<Value, NotActive> {
        self.prune(now);
        let user = match self.live.get(refresh_token) {
            Some(t) if t.kind == Kind::Refresh => t.user.clone(),
            _ => return Err(NotActive),
        };
        self.live.remove(refresh_token);
        Ok(self.issue(&user, life, now))
    }

    /// The user a live access token belongs to.
    pub fn user_of(&self, access_token: &str, now: Instant) -> Option<&str> {
        self.live
            .get(access_token)
            .filter(|t| t.kind == Kind::Access && t.expires > now)
            .map(|t| t.user.as_str())
    }

    /// Invalidates every token issued so far; returns how many (access and refresh) were live.
    pub fn expire_all(&mut self, now: Instant) -> usize {
        self.prune(now);
        let n = self.live.len();
        self.live.clear();
        n
    }

    fn prune(&mut self, now: Instant) {
        self.live.retain(|_, t| t.expires > now);
    }

    fn issue(&mut self, user: &str, life: Lifetimes, now: Instant) -> Value {
        let session = self.uuid();
        let access = self.jwt(user, "Bearer", &session, life.access_secs);
        let refresh = self.jwt(user, "Refresh", &session, life.refresh_secs);
        let id = self.jwt(user, "ID", &session, life.access_secs);
        for (token, kind, secs) in [
            (&access, Kind::Access, life.access_secs),
            (&refresh, Kind::Refresh, life.refresh_secs),
        ] {
            self.live.insert(
                token.clone(),
                Issued {
                    user: user.to_owned(),
                    kind,
                    expires: now + Duration::from_secs(secs),
                },
            );
        }
        json!({
            "access_token": access,
            "expires_in": life.access_secs,
            "refresh_expires_in": life.refresh_secs,
            "refresh_token": refresh,
            "token_type": "Bearer",
            "id_token": id,
            "not-before-policy": 0,
            "session_state": session,
            "scope": "openid profile",
        })
    }

    /// A token shaped like a Keycloak RS256 JWT (header, claims, 256-byte signature). It is
    /// never verified: the sandbox looks tokens up by their whole text.
    fn jwt(&mut self, user: &str, typ: &str, session: &str, secs: u64) -> String {
        let iat = chrono::Utc::now().timestamp();
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": "sandbox-jpo-realm-key"});
        let claims = json!({
            "exp": iat + secs as i64,
            "iat": iat,
            "jti": self.uuid(),
            "iss": "https://ip-data.jpo.go.jp/auth/realms/sandbox",
            "aud": "account",
            "sub": self.uuid(),
            "typ": typ,
            "azp": "api-client",
            "session_state": session,
            "scope": "openid profile",
            "sid": session,
            "preferred_username": user,
        });
        let signature: Vec<u8> = (0..32).flat_map(|_| self.next().to_le_bytes()).collect();
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            URL_SAFE_NO_PAD.encode(signature)
        )
    }

    fn uuid(&mut self) -> String {
        let (a, b) = (self.next(), self.next());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | (b >> 48) & 0x3fff,
            b & 0xffff_ffff_ffff
        )
    }

    /// Unique per call and per sandbox start (seeded by the option and the start time).
    fn next(&mut self) -> u64 {
        self.draws += 1;
        super::mix(self.seed ^ self.draws.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn life(access_secs: u64) -> Lifetimes {
        Lifetimes {
            access_secs,
            refresh_secs: 2 * access_secs,
        }
    }

    #[test]
    fn body_has_the_recorded_keys_in_order() {
        let recorded: Value = serde_json::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/data/jpo-samples/token_response_redacted.json"
        )))
        .unwrap();
        let body = Tokens::new(1).login("u", Lifetimes::default(), Instant::now());
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&body), keys(&recorded));
        for k in [
            "expires_in",
            "refresh_expires_in",
            "token_type",
            "not-before-policy",
            "scope",
        ] {
            assert_eq!(body[k], recorded[k], "{k}");
        }
        for k in ["access_token", "refresh_token", "id_token"] {
            assert_eq!(body[k].as_str().unwrap().split('.').count(), 3, "{k}");
        }
        let len = body.to_string().len();
        assert!((2000..4000).contains(&len), "body is {len} bytes");
    }

    #[test]
    fn access_tokens_expire_and_older_logins_stay_valid() {
        let t0 = Instant::now();
        let mut tokens = Tokens::new(1);
        let first = tokens.login("u", life(10), t0);
        let second = tokens.login("u", life(10), t0);
        let a1 = first["access_token"].as_str().unwrap();
        let a2 = second["access_token"].as_str().unwrap();
        assert_ne!(a1, a2);
        assert_eq!(tokens.user_of(a1, t0 + Duration::from_secs(9)), Some("u"));
        assert_eq!(tokens.user_of(a2, t0), Some("u"));
        assert_eq!(tokens.user_of(a1, t0 + Duration::from_secs(10)), None);
        let refresh = first["refresh_token"].as_str().unwrap();
        assert_eq!(
            tokens.user_of(refresh, t0),
            None,
            "a refresh token is no access token"
        );
    }

    #[test]
    fn refresh_is_single_use_and_expires() {
        let t0 = Instant::now();
        let mut tokens = Tokens::new(1);
        let first = tokens.login("u", life(10), t0);
        let r1 = first["refresh_token"].as_str().unwrap();
        let access = first["access_token"].as_str().unwrap();
        let second = tokens.refresh(r1, life(10), t0).unwrap();
        assert_eq!(tokens.refresh(r1, life(10), t0), Err(NotActive));
        assert_eq!(tokens.refresh(access, life(10), t0), Err(NotActive));
        assert_eq!(tokens.refresh("junk", life(10), t0), Err(NotActive));
        let r2 = second["refresh_token"].as_str().unwrap();
        assert_eq!(
            tokens.refresh(r2, life(10), t0 + Duration::from_secs(20)),
            Err(NotActive)
        );
    }

    #[test]
    fn expire_all_counts_live_tokens() {
        let t0 = Instant::now();
        let mut tokens = Tokens::new(1);
        let body = tokens.login("u", life(10), t0);
        tokens.login("u", life(10), t0);
        assert_eq!(tokens.expire_all(t0), 4);
        assert_eq!(tokens.user_of(body["access_token"].as_str().unwrap(), t0), None);
    }
}
