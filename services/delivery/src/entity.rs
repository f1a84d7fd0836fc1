//! Delivery's table: one delivery per approved case.

/// How an endorsed permit reaches its holder, and where that stands.
pub mod delivery {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "deliveries")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub case_number: String,
        /// `pickup` or `courier`: how the delivery started.
        pub method: String,
        /// One of the states in [`crate::rules`], e.g. `awaiting_collection`.
        #[sea_orm(indexed)]
        pub state: String,
        /// The courier recipient as JSON (name, phone, address). Personal data: sealed at rest.
        #[sea_orm(column_type = "Text", nullable)]
        pub recipient: Option<residence_sealing::Sealed>,
        /// The logistics partner's parcel reference, once the courier has reported on it.
        pub parcel_reference: Option<String>,
        /// Why the permit waits at the window although courier delivery was asked for.
        #[sea_orm(column_type = "Text", nullable)]
        pub fallback_reason: Option<String>,
        /// `holder` or `agent`, once collected.
        pub collected_by: Option<String>,
        /// The staff id of the clerk who handed the permit over.
        pub clerk_id: Option<String>,
        pub started_at: DateTimeUtc,
        pub completed_at: Option<DateTimeUtc>,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
