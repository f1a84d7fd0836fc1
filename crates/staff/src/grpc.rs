//! The gRPC side: the check every staff-facing call makes (`UNAUTHENTICATED` for a missing,
//! malformed, forged or expired token, `PERMISSION_DENIED` for a role or scope that does not
//! allow the call), the flag that says where the keys are, and the client interceptor that
//! sends a token.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tonic::metadata::{Ascii, MetadataMap, MetadataValue};
use tonic::service::Interceptor;
use tonic::{Request, Status};

use crate::keys::{KeyError, StaffKeys};
use crate::role::{Action, Role};
use crate::scope::Scope;
use crate::token::{self, Claims};

/// The metadata key carrying `Bearer <token>`.
pub const AUTHORIZATION: &str = "authorization";

/// Flags of every service with a staff-facing API.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct StaffArgs {
    /// Directory of the public keys staff tokens are verified with, one Ed25519 SPKI PEM file
    /// `<name>.pub.pem` per key (`residence token keygen` makes them) [default:
    /// <data-dir>/staff-keys]. Without any key every staff call is refused.
    #[arg(long, env = "RESIDENCE_STAFF_KEYS_DIR")]
    pub staff_keys_dir: Option<PathBuf>,
}

impl StaffArgs {
    /// The key directory, by default under `data_dir`.
    pub fn keys_dir(&self, data_dir: &Path) -> PathBuf {
        self.staff_keys_dir
            .clone()
            .unwrap_or_else(|| data_dir.join("staff-keys"))
    }

    /// Reads the keys and makes the check for a service of the county `county` (its division
    /// code); a key file that cannot be read stops start-up.
    pub fn load(&self, data_dir: &Path, county: &str) -> Result<StaffAuth, KeyError> {
        let dir = self.keys_dir(data_dir);
        let keys = StaffKeys::load_dir(&dir)?;
        if keys.is_empty() {
            tracing::warn!(
                dir = %dir.display(),
                "no staff public keys; every staff call will be refused"
            );
        } else {
            let ids: Vec<&str> = keys.ids().collect();
            tracing::info!(keys = ?ids, "staff public keys loaded");
        }
        Ok(StaffAuth::new(keys, county))
    }
}

/// The member of staff making a call, as their verified token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Staff {
    /// The staff id (`sub`).
    pub id: String,
    pub role: Role,
    pub scope: Scope,
}

impl Staff {
    /// `PERMISSION_DENIED` unless the town (or county) `code` lies in this staff member's
    /// scope.
    pub fn require_area(&self, code: &str) -> Result<(), Status> {
        if self.scope.covers(code) {
            return Ok(());
        }
        tracing::info!(
            staff.id = %self.id,
            staff.scope = %self.scope,
            area = code,
            "staff call refused: outside scope"
        );
        Err(Status::permission_denied(format!(
            "{code} is outside your scope {}",
            self.scope
        )))
    }
}

/// Checks the tokens of staff calls to one service.
#[derive(Clone, Debug)]
pub struct StaffAuth {
    keys: Arc<StaffKeys>,
    county: String,
}

impl StaffAuth {
    /// A check with `keys`, for a service of the county `county`: tokens scoped to another
    /// county are refused.
    pub fn new(keys: StaffKeys, county: impl Into<String>) -> Self {
        Self {
            keys: Arc::new(keys),
            county: county.into(),
        }
    }

    /// The caller, if their token verifies, their role may perform `action` and their scope
    /// lies in this county; otherwise the status to answer with.
    pub fn require<T>(&self, request: &Request<T>, action: Action) -> Result<Staff, Status> {
        self.optional(request, action)?.ok_or_else(|| {
            Status::unauthenticated("this call is for staff: send `authorization: Bearer <token>`")
        })
    }

    /// As [`StaffAuth::require`], but a call without a token is no error (`None`): for calls
    /// that applicants make too, proving themselves another way.
    pub fn optional<T>(
        &self,
        request: &Request<T>,
        action: Action,
    ) -> Result<Option<Staff>, Status> {
        let Some(claims) = self.authenticate(request.metadata())? else {
            return Ok(None);
        };
        if !claims.role.may(action) {
            tracing::info!(
                staff.id = %claims.sub,
                staff.role = %claims.role,
                action = action.describe(),
                "staff call refused: role"
            );
            return Err(Status::permission_denied(format!(
                "a {} may not {}",
                claims.role,
                action.describe()
            )));
        }
        if !claims.scope.is_within(&self.county) {
            return Err(Status::permission_denied(format!(
                "your scope {} is outside county {}",
                claims.scope, self.county
            )));
        }
        Ok(Some(Staff {
            id: claims.sub,
            role: claims.role,
            scope: claims.scope,
        }))
    }

    fn authenticate(&self, metadata: &MetadataMap) -> Result<Option<Claims>, Status> {
        let Some(value) = metadata.get(AUTHORIZATION) else {
            return Ok(None);
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|text| {
                let (scheme, token) = text.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .ok_or_else(|| Status::unauthenticated("authorization must be `Bearer <token>`"))?;
        let now = chrono::Utc::now().timestamp();
        token::verify(token, &self.keys, now)
            .map(Some)
            .map_err(|error| {
                tracing::info!(%error, "staff call refused: token");
                Status::unauthenticated(error.to_string())
            })
    }
}

/// Client interceptor that sends a staff token with every call; [`BearerToken::none`] sends
/// nothing, as an applicant would.
#[derive(Clone, Default)]
pub struct BearerToken {
    value: Option<MetadataValue<Ascii>>,
}

impl BearerToken {
    /// Sends `token`; fails if it holds characters a header cannot carry.
    pub fn new(token: &str) -> Result<Self, InvalidToken> {
        let value = format!("Bearer {}", token.trim())
            .parse()
            .map_err(|_| InvalidToken)?;
        Ok(Self { value: Some(value) })
    }

    /// Sends no token.
    pub fn none() -> Self {
        Self::default()
    }
}

/// A token with characters a header cannot carry.
#[derive(Debug, thiserror::Error)]
#[error("a token must be printable ascii")]
pub struct InvalidToken;

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = if self.value.is_some() {
            "<token>"
        } else {
            "none"
        };
        f.debug_struct("BearerToken")
            .field("value", &shown)
            .finish()
    }
}

impl Interceptor for BearerToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.value {
            request.metadata_mut().insert(AUTHORIZATION, value.clone());
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;

    use super::*;

    /// A token issued two hours ago that expires `exp_in` seconds from now.
    fn token(role: Role, scope: &str, exp_in: i64) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: "staff-1".into(),
            role,
            scope: Scope::parse(scope).unwrap(),
            iat: now - 7200,
            exp: now + exp_in,
        };
        token::issue(&claims, &SigningKey::from_bytes(&[3; 32])).unwrap()
    }

    fn auth() -> StaffAuth {
        let mut keys = StaffKeys::default();
        keys.insert(SigningKey::from_bytes(&[3; 32]).verifying_key());
        StaffAuth::new(keys, "412824")
    }

    fn request(token: Option<&str>) -> Request<()> {
        let mut interceptor =
            token.map_or_else(BearerToken::none, |t| BearerToken::new(t).unwrap());
        interceptor.call(Request::new(())).unwrap()
    }

    #[test]
    fn a_call_is_checked_for_token_role_and_county() {
        let auth = auth();
        let reviewer = token(Role::Reviewer, "412824101", 600);
        let staff = auth
            .require(&request(Some(&reviewer)), Action::WorkReviews)
            .unwrap();
        assert_eq!((staff.id.as_str(), staff.role), ("staff-1", Role::Reviewer));

        let denied = auth
            .require(&request(Some(&reviewer)), Action::Decide)
            .unwrap_err();
        assert_eq!(denied.code(), tonic::Code::PermissionDenied);
        let elsewhere = token(Role::Reviewer, "412825", 600);
        let denied = auth.require(&request(Some(&elsewhere)), Action::WorkReviews);
        assert_eq!(denied.unwrap_err().code(), tonic::Code::PermissionDenied);

        let missing = auth.require(&request(None), Action::ReadCase).unwrap_err();
        assert_eq!(missing.code(), tonic::Code::Unauthenticated);
        assert_eq!(
            auth.optional(&request(None), Action::ReadCase).unwrap(),
            None
        );
        let expired = token(Role::Reviewer, "412824", -3600);
        let refused = auth.optional(&request(Some(&expired)), Action::ReadCase);
        assert_eq!(refused.unwrap_err().code(), tonic::Code::Unauthenticated);
    }

    #[test]
    fn a_town_scope_reaches_its_own_town_only() {
        let staff = Staff {
            id: "r-1".into(),
            role: Role::Reviewer,
            scope: Scope::parse("412824101").unwrap(),
        };
        assert!(staff.require_area("412824101").is_ok());
        let other = staff.require_area("412824102").unwrap_err();
        assert_eq!(other.code(), tonic::Code::PermissionDenied);
        assert!(!format!("{:?}", BearerToken::new("secret").unwrap()).contains("secret"));
    }
}
