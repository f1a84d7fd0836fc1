//! Review's tables.

/// The review of one accepted case.
pub mod review {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "reviews")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub case_number: String,
        /// `passed`, `pending` (under manual review), `referred` (`failed` in reviews made
        /// before manual review existed, which meant the same) or `withdrawn` (by the
        /// applicant, before the review was finished).
        pub outcome: String,
        /// JSON array of findings (code and Chinese message): the automatic checks', or the
        /// reviewer's once referred.
        #[sea_orm(column_type = "Text")]
        pub findings: String,
        /// When the checks ran, then when the review was finished.
        pub reviewed_at: DateTimeUtc,
        /// The town whose staff work the case; `None` for reviews made before towns.
        pub town_code: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A case the automatic checks sent to a person: the manual review queue (人工审核).
pub mod task {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "review_tasks")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub case_number: String,
        /// 9-digit division code of the town whose reviewers work it.
        #[sea_orm(indexed)]
        pub town_code: String,
        /// `waiting`, `claimed`, `returned`, `approved`, `referred` or `withdrawn`.
        #[sea_orm(indexed)]
        pub state: String,
        /// JSON array of the automatic checks' findings.
        #[sea_orm(column_type = "Text")]
        pub findings: String,
        /// The application as review received it (JSON): what `review.completed` carries on.
        /// Personal data: sealed at rest.
        #[sea_orm(column_type = "Text")]
        pub application: residence_sealing::Sealed,
        /// The reviewer holding it.
        pub claimed_by: Option<String>,
        /// Whether it was returned for supplement already; only once (一次性告知).
        pub returned_once: bool,
        /// JSON array of the material codes the applicant supplied in answer.
        #[sea_orm(column_type = "Text")]
        pub supplied: String,
        /// The reviewer who approved or referred it.
        pub decided_by: Option<String>,
        /// Their note, or the notice sent with a return.
        #[sea_orm(column_type = "Text", nullable)]
        pub note: Option<String>,
        pub queued_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// States of a [`task`].
pub mod task_state {
    /// In the town's queue, held by nobody.
    pub const WAITING: &str = "waiting";
    /// Held by a reviewer.
    pub const CLAIMED: &str = "claimed";
    /// Returned to the applicant for supplement.
    pub const RETURNED: &str = "returned";
    /// Cleared by a reviewer.
    pub const APPROVED: &str = "approved";
    /// Referred with findings to the deciding officer.
    pub const REFERRED: &str = "referred";
    /// Closed because the applicant withdrew the application (撤回申请); nobody may act on it.
    pub const WITHDRAWN: &str = "withdrawn";

    /// States in which a task is still open, as the queue lists them.
    pub const OPEN: [&str; 3] = [WAITING, CLAIMED, RETURNED];
}

/// Stored review outcomes.
pub mod outcome {
    /// Nothing stands in the way.
    pub const PASSED: &str = "passed";
    /// Under manual review.
    pub const PENDING: &str = "pending";
    /// Referred with findings to the deciding officer.
    pub const REFERRED: &str = "referred";
    /// What `referred` was called before manual review existed.
    pub const FAILED: &str = "failed";
    /// The applicant withdrew the application before the review was finished.
    pub const WITHDRAWN: &str = "withdrawn";
}
