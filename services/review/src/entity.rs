//! Review's table.

/// The review of one accepted case.
pub mod review {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "reviews")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub case_number: String,
        /// `passed` or `failed`.
        pub outcome: String,
        /// JSON array of findings (code and Chinese message).
        #[sea_orm(column_type = "Text")]
        pub findings: String,
        pub reviewed_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
