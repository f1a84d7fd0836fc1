//! Courier's tables: one waybill per courier delivery, and the waybills still waiting for
//! their partner to accept them.

/// A parcel handed to a logistics partner, and what the partner last reported on it.
pub mod waybill {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "waybills")]
    pub struct Model {
        /// The reference the partner knows the parcel by; random, so it reveals nothing.
        #[sea_orm(primary_key, auto_increment = false)]
        pub parcel_reference: String,
        /// Unique: a replayed delivery event never creates a second waybill.
        #[sea_orm(unique)]
        pub case_number: String,
        /// The partner chosen for the case, by its code such as `ems`; kept to the end even
        /// if the partner is disabled meanwhile.
        pub partner: String,
        /// One of the states in [`crate::parcel`], e.g. `in_transit`.
        pub state: String,
        /// Who signed for the parcel. Personal data: sealed at rest.
        #[sea_orm(column_type = "Text", nullable)]
        pub signed_by: Option<residence_sealing::Sealed>,
        /// The partner's reason for a failed or returned parcel.
        #[sea_orm(column_type = "Text", nullable)]
        pub failure_reason: Option<String>,
        pub requested_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A waybill its partner has not accepted yet. Inserted with the waybill, deleted by the
/// partner's first status report; the acceptance watch requests it again while it waits.
pub mod acceptance {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "waybill_acceptances")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub parcel_reference: String,
        /// How many times the waybill has been requested from the partner, the first included.
        pub requests: i32,
        pub first_requested_at: DateTimeUtc,
        #[sea_orm(indexed)]
        pub last_requested_at: DateTimeUtc,
        /// Set once the waybill was raised as an incident; it is not requested again.
        pub incident_raised_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
