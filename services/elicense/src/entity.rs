//! The e-license service's tables: every license issued, every version kept, and every
//! message sent to the e-license platforms with the answer it got.

/// Status of a license, as stored.
pub mod status {
    /// The holder's valid license.
    pub const CURRENT: &str = "current";
    /// Replaced by a later version after the next endorsement; kept, never deleted.
    pub const SUPERSEDED: &str = "superseded";
    /// Withdrawn by the issuing authority.
    pub const REVOKED: &str = "revoked";
}

/// One issued license (电子证照), one row per version.
pub mod license {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "licenses")]
    pub struct Model {
        /// `1.2.156.3005.2.{type}.{issuer}.{serial}.{version}.{check}`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub identifier: String,
        /// The approved case this version was issued for; one license per approval.
        #[sea_orm(unique)]
        pub case_number: String,
        /// The keyed hash of the holder's ID number ([`crate::holder::key`]): finds their
        /// earlier versions. Licenses issued before it was keyed carry SHA-256 (hex).
        #[sea_orm(indexed)]
        pub holder_key: String,
        /// 1 for a holder's first license, one more for each endorsement after it.
        pub version: i32,
        /// The identifier of the version this one replaced.
        pub supersedes: Option<String>,
        /// `current`, `superseded` or `revoked` (see [`super::status`]).
        pub status: String,
        /// 证照名称, from the service item's result name at issuance.
        pub license_name: String,
        /// 证照编号: the permit number, which is the holder's ID number. Personal data: sealed
        /// at rest.
        pub license_number: residence_sealing::Sealed,
        /// Personal data: sealed at rest.
        pub holder_name: residence_sealing::Sealed,
        pub masked_id_number: String,
        /// 签发机关 as written on the endorsement.
        pub issuing_authority: String,
        /// The issuer code in the identifier: the implementing body's credit code.
        pub issuer_code: String,
        /// Day of the approval, China time.
        pub issued_on: Date,
        pub valid_until: Date,
        /// Personal data: sealed at rest.
        #[sea_orm(column_type = "Text")]
        pub residence_address: residence_sealing::Sealed,
        /// When a platform registered the license.
        pub acknowledged_at: Option<DateTimeUtc>,
        /// The platform that last acknowledged or rejected the license.
        pub ack_platform: Option<String>,
        /// Why the platform rejected the license, as it said.
        pub rejected_reason: Option<String>,
        pub created_at: DateTimeUtc,
        /// The SM2 signature over the license's canonical form, `r || s` in base64. `None` only
        /// for licenses issued before licenses were signed.
        pub signature: Option<String>,
        /// The key that made `signature`.
        pub key_id: Option<String>,
        /// The compact signed payload for the license's QR code.
        #[sea_orm(column_type = "Text", nullable)]
        pub qr_payload: Option<String>,
        /// When the license was revoked, in whole seconds.
        pub revoked_at: Option<DateTimeUtc>,
        /// Why, as the officer who reversed the decision wrote it.
        #[sea_orm(column_type = "Text", nullable)]
        pub revocation_reason: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// State of a message to the e-license platform, as stored.
pub mod message_state {
    /// Sent; the platform's answer is due at `ack_due_at`.
    pub const AWAITING: &str = "awaiting";
    /// The platform registered it.
    pub const ACCEPTED: &str = "accepted";
    /// The platform refused it, with a reason.
    pub const REJECTED: &str = "rejected";
    /// Sent and re-sent without an answer; an incident was raised.
    pub const UNACKNOWLEDGED: &str = "unacknowledged";
}

/// One message to the e-license platform (an issued or a revoked license) and what became of
/// it: sent, re-sent while unanswered, then accepted, rejected or given up on.
pub mod platform_message {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "platform_messages")]
    pub struct Model {
        /// The message's `ce-id`, which every re-send keeps.
        #[sea_orm(primary_key, auto_increment = false)]
        pub message_id: String,
        #[sea_orm(indexed)]
        pub identifier: String,
        pub case_number: String,
        /// `issued` or `revoked`: what the platform is asked to do.
        pub action: String,
        /// See [`super::message_state`].
        #[sea_orm(indexed)]
        pub state: String,
        /// Times sent, the first included.
        pub sends: i32,
        /// The outbox row of the latest send, which a re-send copies.
        pub last_outbox_event_id: String,
        /// When the platform's answer is due; `None` once it answered or was given up on.
        #[sea_orm(indexed)]
        pub ack_due_at: Option<DateTimeUtc>,
        /// The platform that answered.
        pub platform: Option<String>,
        /// The platform's reason for a rejection. May quote personal data: never logged.
        #[sea_orm(column_type = "Text", nullable)]
        pub reason: Option<String>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
