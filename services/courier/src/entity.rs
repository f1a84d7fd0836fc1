//! Courier's table: one waybill per courier delivery.

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
        /// The partner's subject token, e.g. `ems`.
        pub partner: String,
        /// One of the states in [`crate::parcel`], e.g. `in_transit`.
        pub state: String,
        /// Who signed for the parcel. Personal data.
        pub signed_by: Option<String>,
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
