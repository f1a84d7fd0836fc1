//! Staff tokens: JSON Web Tokens (RFC 7519) signed with Ed25519 (`alg` `EdDSA`, RFC 8037),
//! naming their key by `kid`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey};
use serde::{Deserialize, Serialize};

use crate::keys::{StaffKeys, key_id};
use crate::role::Role;
use crate::scope::Scope;

/// The longest a token may live, from issue to expiry: 31 days.
pub const MAX_LIFETIME_SECS: i64 = 31 * 24 * 3600;

/// Clock difference tolerated between the issuer and the service, in seconds.
pub const LEEWAY_SECS: i64 = 60;

/// The longest token accepted, in bytes; a real one is about 400.
const MAX_TOKEN_BYTES: usize = 4096;

/// The longest staff id.
const MAX_SUBJECT_LENGTH: usize = 64;

/// The only signature algorithm accepted.
const ALGORITHM: &str = "EdDSA";

/// What a token says about its bearer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The staff member's id, such as `clerk-1`: 1 to 64 letters, digits, `.`, `-` or `_`.
    pub sub: String,
    pub role: Role,
    /// The town or county the bearer acts for.
    pub scope: Scope,
    /// Issued at, seconds since the Unix epoch.
    pub iat: i64,
    /// Expires at, seconds since the Unix epoch.
    pub exp: i64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    kid: String,
}

/// Why a token is refused. Messages name the problem, never the token.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("token is malformed: {0}")]
    Malformed(&'static str),
    #[error("token algorithm must be EdDSA, got {0:?}")]
    Algorithm(String),
    #[error("token is signed with unknown key {0:?}")]
    UnknownKey(String),
    #[error("token signature does not verify")]
    Signature,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token claims are invalid: {0}")]
    Claims(String),
}

impl Claims {
    /// Checks the claims themselves, whatever the time.
    pub fn check(&self) -> Result<(), TokenError> {
        let subject_ok = (1..=MAX_SUBJECT_LENGTH).contains(&self.sub.len())
            && self
                .sub
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
        if !subject_ok {
            return Err(TokenError::Claims(format!(
                "sub must be 1 to {MAX_SUBJECT_LENGTH} letters, digits, `.`, `-` or `_`"
            )));
        }
        let lifetime = self.exp - self.iat;
        if !(1..=MAX_LIFETIME_SECS).contains(&lifetime) {
            return Err(TokenError::Claims(format!(
                "exp must come 1 s to {} days after iat",
                MAX_LIFETIME_SECS / 86_400
            )));
        }
        Ok(())
    }
}

/// Signs tokens with one private key: for operators issuing tokens, and for the test harness.
pub struct Issuer {
    key: SigningKey,
}

impl Issuer {
    /// Signs with the private key in `path` (PKCS#8 PEM, as `residence token keygen` writes).
    pub fn from_file(path: &std::path::Path) -> Result<Self, crate::keys::KeyError> {
        Ok(Self {
            key: crate::keys::read_signing_key(path)?,
        })
    }

    /// A token for `subject` in `role` over `scope`, issued now and valid `lifetime_secs`.
    pub fn issue(
        &self,
        subject: &str,
        role: Role,
        scope: Scope,
        lifetime_secs: i64,
    ) -> Result<String, TokenError> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: subject.to_owned(),
            role,
            scope,
            iat: now,
            exp: now.saturating_add(lifetime_secs),
        };
        issue(&claims, &self.key)
    }
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key_id = key_id(&self.key.verifying_key());
        f.debug_struct("Issuer").field("key_id", &key_id).finish()
    }
}

/// Signs `claims` with `key` into a compact token.
pub fn issue(claims: &Claims, key: &SigningKey) -> Result<String, TokenError> {
    claims.check()?;
    let header = Header {
        alg: ALGORITHM.to_owned(),
        typ: Some("JWT".to_owned()),
        kid: key_id(&key.verifying_key()),
    };
    let signed = format!("{}.{}", encode_part(&header)?, encode_part(claims)?);
    let signature = key.sign(signed.as_bytes());
    Ok(format!(
        "{signed}.{}",
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    ))
}

/// Checks `token` against `keys` at `now` (seconds since the Unix epoch) and returns its
/// claims.
pub fn verify(token: &str, keys: &StaffKeys, now: i64) -> Result<Claims, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::Malformed("longer than 4096 bytes"));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed("expected three dot-separated parts"));
    };
    let header: Header = decode_json(header, "header")?;
    if header.alg != ALGORITHM {
        return Err(TokenError::Algorithm(header.alg));
    }
    let key = keys
        .get(&header.kid)
        .ok_or_else(|| TokenError::UnknownKey(header.kid.clone()))?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .ok()
        .and_then(|bytes| Signature::from_slice(&bytes).ok())
        .ok_or(TokenError::Malformed("signature is not 64 base64url bytes"))?;
    let signed_len = token.len() - token.rsplit('.').next().map_or(0, str::len) - 1;
    key.verify_strict(&token.as_bytes()[..signed_len], &signature)
        .map_err(|_| TokenError::Signature)?;

    let claims: Claims = decode_json(payload, "claims")
        .map_err(|_| TokenError::Claims("not the expected JSON object".to_owned()))?;
    claims.check()?;
    if now >= claims.exp + LEEWAY_SECS {
        return Err(TokenError::Expired);
    }
    if claims.iat > now + LEEWAY_SECS {
        return Err(TokenError::NotYetValid);
    }
    Ok(claims)
}

fn decode_json<T: serde::de::DeserializeOwned>(
    part: &str,
    what: &'static str,
) -> Result<T, TokenError> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| match what {
        "header" => TokenError::Malformed("header is not base64url"),
        _ => TokenError::Malformed("claims are not base64url"),
    })?;
    serde_json::from_slice(&bytes).map_err(|_| match what {
        "header" => TokenError::Malformed("header is not the expected JSON object"),
        _ => TokenError::Malformed("claims are not the expected JSON object"),
    })
}

fn encode_part<T: Serialize>(part: &T) -> Result<String, TokenError> {
    let json = serde_json::to_vec(part).map_err(|error| TokenError::Claims(error.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_790_000_000;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn keys_of(key: &SigningKey) -> StaffKeys {
        let mut keys = StaffKeys::default();
        keys.insert(key.verifying_key());
        keys
    }

    fn claims() -> Claims {
        Claims {
            sub: "clerk-1".into(),
            role: Role::Reviewer,
            scope: Scope::parse("412824101").unwrap(),
            iat: NOW - 10,
            exp: NOW + 3600,
        }
    }

    #[test]
    fn a_token_verifies_with_its_key_only() {
        let token = issue(&claims(), &key(1)).unwrap();
        assert_eq!(verify(&token, &keys_of(&key(1)), NOW).unwrap(), claims());
        assert!(matches!(
            verify(&token, &keys_of(&key(2)), NOW),
            Err(TokenError::UnknownKey(_))
        ));
    }

    #[test]
    fn expiry_and_issue_time_are_enforced_with_leeway() {
        let keys = keys_of(&key(1));
        let token = issue(&claims(), &key(1)).unwrap();
        assert!(verify(&token, &keys, NOW + 3600 + LEEWAY_SECS - 1).is_ok());
        assert_eq!(
            verify(&token, &keys, NOW + 3600 + LEEWAY_SECS),
            Err(TokenError::Expired)
        );
        assert_eq!(
            verify(&token, &keys, NOW - 10 - LEEWAY_SECS - 1),
            Err(TokenError::NotYetValid)
        );
    }

    #[test]
    fn a_changed_claim_breaks_the_signature() {
        let keys = keys_of(&key(1));
        let token = issue(&claims(), &key(1)).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let mut forged = claims();
        forged.role = Role::Decider;
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        let forged = format!("{}.{payload}.{}", parts[0], parts[2]);
        assert_eq!(verify(&forged, &keys, NOW), Err(TokenError::Signature));
        let unsigned = format!("{}.{}.", parts[0], parts[1]);
        assert!(matches!(
            verify(&unsigned, &keys, NOW),
            Err(TokenError::Malformed(_))
        ));
        for garbage in ["", "a.b", "a.b.c.d", "!!.??.**"] {
            assert!(verify(garbage, &keys, NOW).is_err(), "{garbage:?}");
        }
    }

    #[test]
    fn bad_claims_are_never_signed() {
        let mut long_lived = claims();
        long_lived.exp = long_lived.iat + MAX_LIFETIME_SECS + 1;
        assert!(issue(&long_lived, &key(1)).is_err());
        let mut nameless = claims();
        nameless.sub = "clerk 1".into();
        assert!(issue(&nameless, &key(1)).is_err());
    }
}
