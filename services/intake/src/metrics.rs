//! Gauges only intake can give, as the owner of every case: how many cases are in each stage,
//! and the share of decided cases decided within their promised time limit.

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
};
use tokio_util::sync::CancellationToken;

use crate::entity::{case, clock};
use crate::status;

/// Every stored status, so a stage that empties shows 0 rather than its last count.
const STAGES: [&str; 14] = [
    status::RECEIVED,
    status::ACCEPTED,
    status::REFUSED,
    status::SUPPLEMENT_REQUIRED,
    status::IN_MANUAL_REVIEW,
    status::AWAITING_DECISION,
    status::REVIEWED,
    status::APPROVED,
    status::DENIED,
    status::SHIPPED,
    status::READY_FOR_PICKUP,
    status::DELIVERED,
    status::COLLECTED,
    status::WITHDRAWN,
];

/// Samples `residence_cases{stage}` and `residence_cases_on_time_ratio` until `shutdown`.
pub async fn run(db: DatabaseConnection, shutdown: CancellationToken) {
    let every = residence_runtime::sampling::SAMPLE_EVERY;
    residence_runtime::sampling::every(every, shutdown, || sample(&db)).await;
}

async fn sample(db: &DatabaseConnection) -> Result<(), DbErr> {
    let metrics = residence_metrics::global();
    let counts: Vec<(String, i64)> = case::Entity::find()
        .select_only()
        .column(case::Column::Status)
        .column_as(case::Column::CaseNumber.count(), "cases")
        .group_by(case::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    for stage in STAGES {
        let count = counts
            .iter()
            .find(|(status, _)| status == stage)
            .map_or(0, |(_, count)| *count);
        metrics.cases.with_label_values(&[stage]).set(count);
    }

    let (decided, on_time) = decided_on_time(db).await?;
    let ratio = if decided == 0 {
        1.0
    } else {
        on_time as f64 / decided as f64
    };
    metrics.on_time_ratio.set(ratio);
    Ok(())
}

/// Cases decided (their promised clock stopped, and not by a withdrawal), and how many of them
/// before its deadline.
async fn decided_on_time(db: &DatabaseConnection) -> Result<(u64, u64), DbErr> {
    let withdrawn = sea_orm::sea_query::Query::select()
        .column(case::Column::CaseNumber)
        .from(case::Entity)
        .and_where(case::Column::Status.eq(status::WITHDRAWN))
        .to_owned();
    let decided = || {
        clock::Entity::find()
            .filter(clock::Column::LimitKind.eq("promised"))
            .filter(clock::Column::StoppedAt.is_not_null())
            .filter(clock::Column::CaseNumber.not_in_subquery(withdrawn.clone()))
    };
    let all = decided().count(db).await?;
    let in_time = decided()
        .filter(Expr::col(clock::Column::StoppedAt).lte(Expr::col(clock::Column::DeadlineAt)))
        .count(db)
        .await?;
    Ok((all, in_time))
}
