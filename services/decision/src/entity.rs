//! Decision's table.

/// The decision on one reviewed case.
pub mod decision {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "decisions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub case_number: String,
        /// `approved` or `denied`.
        #[sea_orm(indexed)]
        pub outcome: String,
        /// The endorsement written on the permit, as JSON, when approved.
        #[sea_orm(column_type = "Text", nullable)]
        pub endorsement: Option<String>,
        /// The provisions a denial rests on.
        pub legal_basis: Option<String>,
        /// JSON array of reasons for a denial.
        #[sea_orm(column_type = "Text")]
        pub reasons: String,
        pub decided_at: DateTimeUtc,
        /// When an officer reversed the approval (撤销); `None` while it stands.
        pub reversed_at: Option<DateTimeUtc>,
        /// Why it was reversed.
        #[sea_orm(column_type = "Text", nullable)]
        pub reversal_reason: Option<String>,
        /// The officer who reversed it.
        pub reversed_by: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
