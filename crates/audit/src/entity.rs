//! The audit table every service keeps.

/// One audit record: a link in its case's chain. Rows are never updated or deleted; the
/// database refuses both (see [`crate::migration`]).
pub mod audit_record {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_records")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        /// The case the record belongs to; its chain.
        #[sea_orm(unique_key = "chain")]
        pub case_number: String,
        /// Position in the case's chain, from 1.
        #[sea_orm(unique_key = "chain")]
        pub seq: i64,
        /// Who: a staff id, `applicant`, `public`, or the service itself.
        pub actor: String,
        /// In which role: a staff role, `applicant`, `public` or `system`.
        pub role: String,
        /// What, as a stable dotted code such as `review.claimed`.
        pub action: String,
        /// Why, or what it concerned; may quote personal data, so it stays in the database.
        #[sea_orm(column_type = "Text")]
        pub reason: String,
        /// The W3C trace id of the call or event it happened in; empty outside a trace.
        pub trace_id: String,
        /// When, to the microsecond.
        pub at: DateTimeUtc,
        /// The hash of the record before it in the chain; 64 zeros for the first.
        pub prev_hash: String,
        /// SM3 over the record's canonical form, prev_hash included, as lowercase hex.
        pub hash: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
