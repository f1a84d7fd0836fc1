//! Who may call the staff-facing APIs: Ed25519-signed tokens naming a member of staff, one
//! role and the town or county they act for; the public keys the services verify them with;
//! and the check every staff call makes. Applicants never hold a token: they prove a case is
//! theirs with its access code.

pub mod grpc;
pub mod keys;
pub mod role;
pub mod scope;
pub mod token;

pub use grpc::{BearerToken, Staff, StaffArgs, StaffAuth};
pub use keys::{StaffKeys, key_id};
pub use role::{Action, Role};
pub use scope::Scope;
pub use token::{Claims, Issuer, TokenError};
