//! Staff tokens for tests: one fixed signing key, a staff check that trusts it, and requests
//! that carry a token signed with it, as the staff client would send them.

use chrono::Utc;
use ed25519_dalek::SigningKey;
use residence_staff::{BearerToken, Claims, Role, Scope, StaffAuth, StaffKeys};
use tonic::Request;
use tonic::service::Interceptor;

/// The county every test service serves and every test token is scoped to.
pub const COUNTY: &str = "412824";

/// How long a test token stays valid: longer than any one test runs.
const TOKEN_LIFETIME_SECONDS: i64 = 600;

/// The key test tokens are signed with. Fixed, so that a failing test replays the same way;
/// no deployment trusts it.
pub fn signing_key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

/// The staff check of a service in [`COUNTY`] that accepts tokens signed with
/// [`signing_key`].
pub fn auth() -> StaffAuth {
    let mut keys = StaffKeys::default();
    keys.insert(signing_key().verifying_key());
    StaffAuth::new(keys, COUNTY)
}

/// `message` as `staff_id` sends it in `role`, with a fresh token scoped to the whole county.
pub fn request<T>(staff_id: &str, role: Role, message: T) -> Request<T> {
    let now = Utc::now().timestamp();
    let claims = Claims {
        sub: staff_id.to_owned(),
        role,
        scope: Scope::parse(COUNTY).expect("the county is a valid scope"),
        iat: now,
        exp: now + TOKEN_LIFETIME_SECONDS,
    };
    let token = residence_staff::token::issue(&claims, &signing_key()).expect("a signed token");

    // The client's interceptor puts the token where the service looks for it.
    let mut bearer = BearerToken::new(&token).expect("a token fits in a header");
    let with_token = bearer
        .call(Request::new(()))
        .expect("the interceptor passes");
    let mut request = Request::new(message);
    *request.metadata_mut() = with_token.into_parts().0;
    request
}
