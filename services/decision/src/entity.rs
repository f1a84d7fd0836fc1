//! Decision's tables.

/// The decision on one reviewed case.
pub mod decision {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "decisions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub case_number: String,
        /// `approved`, `denied`, or `withdrawn` when the applicant withdrew first.
        #[sea_orm(indexed)]
        pub outcome: String,
        /// The endorsement written on the permit, as JSON, when approved. Holds the
        /// residence address: sealed at rest.
        #[sea_orm(column_type = "Text", nullable)]
        pub endorsement: Option<residence_sealing::Sealed>,
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
        /// The deciding officer's staff id; `None` when the rules decided alone.
        pub decided_by: Option<String>,
        /// The town whose staff work the case; `None` for decisions made before towns.
        pub town_code: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A case a reviewer referred with findings, waiting for the deciding officer.
pub mod pending {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "pending_decisions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub case_number: String,
        /// 9-digit division code of the town whose staff work the case.
        #[sea_orm(indexed)]
        pub town_code: String,
        /// `pending` until the officer decides, then `decided`; `withdrawn` when the applicant
        /// withdrew first.
        #[sea_orm(indexed)]
        pub state: String,
        /// The application as review passed it on (JSON). Personal data: sealed at rest.
        #[sea_orm(column_type = "Text")]
        pub application: residence_sealing::Sealed,
        /// JSON array of the reviewer's findings.
        #[sea_orm(column_type = "Text")]
        pub findings: String,
        pub referred_at: DateTimeUtc,
        pub decided_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// States of a [`pending`] row.
pub mod pending_state {
    /// Waiting for the officer.
    pub const PENDING: &str = "pending";
    /// Decided by the officer.
    pub const DECIDED: &str = "decided";
    /// Withdrawn by the applicant before the officer decided.
    pub const WITHDRAWN: &str = "withdrawn";
}
