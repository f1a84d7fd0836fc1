//! Intake's tables: cases, their steps, and the case number sequence.

/// One application and where it stands.
pub mod case {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "cases")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub case_number: String,
        #[sea_orm(unique)]
        pub client_request_id: String,
        /// SHA-256 of the submitted request, to tell a retry from a reused request id.
        pub request_digest: String,
        pub channel: String,
        /// A `CaseStatus` name in snake case, e.g. `accepted`.
        #[sea_orm(indexed)]
        pub status: String,
        pub is_final: bool,
        pub delivery_method: String,
        pub masked_id_number: String,
        /// The application as later stages need it (JSON). Personal data: sealed at rest.
        #[sea_orm(column_type = "Text")]
        pub application: residence_sealing::Sealed,
        /// Materials on file, as a JSON array of material codes.
        #[sea_orm(column_type = "Text")]
        pub materials: String,
        /// Refusal reasons or missing materials, as a JSON array of reasons.
        #[sea_orm(column_type = "Text")]
        pub reasons: String,
        pub received_at: DateTimeUtc,
        pub accepted_at: Option<DateTimeUtc>,
        pub due_on: Option<Date>,
        pub due_on_confirmed: bool,
        pub closed_at: Option<DateTimeUtc>,
        pub new_valid_until: Option<Date>,
        pub parcel_reference: Option<String>,
        pub license_identifier: Option<String>,
        pub updated_at: DateTimeUtc,
        /// 9-digit code of the town whose staff work the case; `None` for cases received
        /// before towns were recorded (the town then follows from the address).
        #[sea_orm(indexed)]
        pub town_code: Option<String>,
        /// When the applicant asked to withdraw the accepted case; cleared by the answer.
        pub withdrawal_requested_at: Option<DateTimeUtc>,
        /// When the one rating invitation (好差评) went out, after the case closed.
        pub rating_invited_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Every step of every case, append-only.
pub mod step {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "case_steps")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        #[sea_orm(indexed)]
        pub case_number: String,
        pub status: String,
        pub note: String,
        pub at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The last case sequence number issued per day; numbers are never reused.
pub mod sequence {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "case_sequences")]
    pub struct Model {
        /// `YYYYMMDD`, China time.
        #[sea_orm(primary_key, auto_increment = false)]
        pub day: String,
        pub last: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The time-limit clocks of accepted cases: one row per case and limit (legal, promised).
pub mod clock {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "case_clocks")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub case_number: String,
        /// `legal` or `promised`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub limit_kind: String,
        pub working_days: i32,
        /// Working days used before the clock last started.
        pub used_days: i32,
        /// Acceptance, or the day the applicant last answered a supplement notice.
        pub started_on: Date,
        /// Set while the case waits on the applicant.
        pub paused_on: Option<Date>,
        pub due_on: Date,
        pub due_on_confirmed: bool,
        pub deadline_at: DateTimeUtc,
        pub warn_at: DateTimeUtc,
        /// `running`, `paused` or `stopped`.
        #[sea_orm(indexed)]
        pub state: String,
        pub warned_at: Option<DateTimeUtc>,
        pub overdue_at: Option<DateTimeUtc>,
        pub stopped_at: Option<DateTimeUtc>,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// 好差评: one rating per case and channel.
pub mod rating {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "case_ratings")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub case_number: String,
        /// `web`, `app`, `sms`, `window` or `hotline`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub channel: String,
        /// 1 (非常不满意) to 5 (非常满意).
        pub level: i32,
        /// The applicant's words; may hold personal data.
        #[sea_orm(column_type = "Text")]
        pub comment: String,
        #[sea_orm(indexed)]
        pub town_code: String,
        pub rated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Follow-up tasks (差评整改) that dissatisfied ratings opened.
pub mod follow_up {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "follow_ups")]
    pub struct Model {
        /// `FU-` and the case number and rating channel: one task per rating.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        #[sea_orm(indexed)]
        pub case_number: String,
        #[sea_orm(indexed)]
        pub town_code: String,
        pub channel: String,
        pub level: i32,
        #[sea_orm(column_type = "Text")]
        pub comment: String,
        pub opened_at: DateTimeUtc,
        pub due_on: Date,
        pub due_on_confirmed: bool,
        /// What was done; `None` while open.
        #[sea_orm(column_type = "Text", nullable)]
        pub outcome: Option<String>,
        pub closed_at: Option<DateTimeUtc>,
        pub closed_by: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Resend requests the sweeper made for cases stuck beyond their stage budget.
pub mod resend {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "case_resends")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub case_number: String,
        /// The status the case was stuck in at the last request.
        pub status: String,
        pub attempts: i32,
        pub last_requested_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
