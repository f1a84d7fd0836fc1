//! Tables every service has: the outbox of events to publish and the inbox of events consumed.

/// Events written in the same transaction as the state change they describe, waiting for the
/// relay to publish them. Published rows are kept for the retention period so they can be
/// re-published if the broker loses its store.
pub mod outbox {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbox")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        /// The CloudEvents id, also sent as `Nats-Msg-Id` so JetStream drops re-publications.
        #[sea_orm(unique)]
        pub event_id: String,
        pub subject: String,
        /// The case number the event concerns (`ce-subject`).
        pub case_number: String,
        /// Headers to publish, as a JSON object of strings.
        #[sea_orm(column_type = "Text")]
        pub headers: String,
        /// The event's JSON. Sealed at rest: events carry personal data.
        #[sea_orm(column_type = "Text")]
        pub payload: residence_sealing::Sealed,
        pub created_at: DateTimeUtc,
        #[sea_orm(indexed)]
        pub published_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Events a consumer has processed. A row is written in the same transaction as the event's
/// effects, so a redelivered event is recognised and changes nothing.
pub mod inbox {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "inbox")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub consumer: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub event_id: String,
        pub processed_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
