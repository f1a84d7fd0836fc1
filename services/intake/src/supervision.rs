//! 监督: figures per town and stage against the time limits and the applicants' ratings, and
//! the follow-up tasks dissatisfied ratings open. Intake owns every case, its steps and its
//! clocks, so it answers from its own tables.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use residence_proto::v1::{self as pb, Stage, supervision_service_server::SupervisionService};
use residence_rules::clock::LimitKind;
use residence_runtime::grpc::{self, Violations, internal};
use residence_runtime::time::{TimeSource, china_date, china_rfc3339};
use residence_runtime::validate;
use residence_staff::{Action, Scope, StaffAuth};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};
use tonic::{Request, Response, Status};

use crate::entity::{case, clock, follow_up, rating, step};
use crate::feedback::Closed;
use crate::status;
use crate::store::Store;

/// Stages in order, as reports list them.
const STAGES: [Stage; 5] = [
    Stage::Receive,
    Stage::Accept,
    Stage::Review,
    Stage::Decide,
    Stage::Deliver,
];

/// Serves `residence.v1.SupervisionService`.
#[derive(Debug, Clone)]
pub struct SupervisionApi {
    pub store: Store,
    pub staff: StaffAuth,
    pub now: TimeSource,
}

#[tonic::async_trait]
impl SupervisionService for SupervisionApi {
    async fn get_supervision_report(
        &self,
        request: Request<pb::GetSupervisionReportRequest>,
    ) -> Result<Response<pb::SupervisionReport>, Status> {
        let staff = self.staff.require(&request, Action::ReadReports)?;
        let request = request.get_ref();
        let now = self.now.now();
        let today = china_date(now);
        let mut v = Violations::default();
        let area = grpc::area_code(&request.area_code, &mut v);
        let from = optional_date("from", &request.from, &mut v);
        let to = optional_date("to", &request.to, &mut v);
        v.into_result()?;
        let area = area.unwrap_or_else(|| staff.scope.clone());
        staff.require_area(area.as_str())?;
        self.require_known(&area)?;
        let from = from.unwrap_or_else(|| start_of_year(today));
        let to = to.unwrap_or(today);
        if from > to {
            let mut v = Violations::default();
            v.add("from", format!("must not be after to ({to})"));
            v.into_result()?;
        }
        let period = Period { from, to };
        let report = report(&self.store, &area, period, now)
            .await
            .map_err(internal)?;
        Ok(Response::new(report))
    }

    async fn list_follow_ups(
        &self,
        request: Request<pb::ListFollowUpsRequest>,
    ) -> Result<Response<pb::ListFollowUpsResponse>, Status> {
        let staff = self.staff.require(&request, Action::ReadFollowUps)?;
        let request = request.get_ref();
        let (area, limit) = grpc::list_scope(&staff, &request.area_code, request.limit)?;
        self.require_known(&area)?;
        let today = china_date(self.now.now());
        let tasks = self
            .store
            .follow_ups(&area, request.open_only, u64::from(limit))
            .await
            .map_err(internal)?;
        Ok(Response::new(pb::ListFollowUpsResponse {
            follow_ups: tasks
                .iter()
                .map(|task| follow_up_to_proto(task, today))
                .collect(),
        }))
    }

    async fn close_follow_up(
        &self,
        request: Request<pb::CloseFollowUpRequest>,
    ) -> Result<Response<pb::FollowUp>, Status> {
        let staff = self.staff.require(&request, Action::WorkFollowUps)?;
        let request = request.get_ref();
        let mut v = Violations::default();
        let id = follow_up_id(&request.follow_up_id, &mut v);
        let outcome = validate::free_text(&request.outcome, 5, 1000).unwrap_or_else(|problem| {
            v.add("outcome", problem);
            String::new()
        });
        v.into_result()?;
        let not_found = || Status::not_found("no follow-up task with this id");
        // The scope is checked before anything changes. Staff of one town learn nothing of
        // another town's tasks, not even whether one exists.
        let task = self.store.follow_up(&id).await.map_err(internal)?;
        let task = match task {
            Some(task) => task,
            None if staff.scope.is_county() => return Err(not_found()),
            None => {
                return Err(Status::permission_denied(format!(
                    "no follow-up task {id} in your scope {}",
                    staff.scope
                )));
            }
        };
        staff.require_area(&task.town_code)?;
        let now = self.now.now();
        let closed = self
            .store
            .close_follow_up(&id, &outcome, &staff, now)
            .await
            .map_err(internal)?;
        let today = china_date(now);
        match closed {
            Closed::Done(task) => {
                tracing::info!(case.number = %task.case_number, follow_up = %task.id, "follow-up closed");
                Ok(Response::new(follow_up_to_proto(&task, today)))
            }
            Closed::NotFound => Err(not_found()),
            Closed::Conflict(task) => Err(Status::failed_precondition(format!(
                "follow-up {} was closed on {} with a different outcome",
                task.id,
                task.closed_at.map(china_rfc3339).unwrap_or_default()
            ))),
        }
    }
}

impl SupervisionApi {
    /// NOT_FOUND for a town code the service item does not list.
    fn require_known(&self, area: &Scope) -> Result<(), Status> {
        let towns = &self.store.item.implementing_body.towns;
        if area.is_county() || towns.iter().any(|town| town.code == area.as_str()) {
            return Ok(());
        }
        Err(Status::not_found(format!(
            "no town {} in the service item",
            area.as_str()
        )))
    }
}

/// The days a report covers, both included.
#[derive(Clone, Copy, Debug)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Period {
    fn contains(&self, at: DateTime<Utc>) -> bool {
        let day = china_date(at);
        self.from <= day && day <= self.to
    }

    /// The first instant of the period and the first instant after it, UTC.
    fn bounds(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        (
            china_midnight(self.from),
            china_midnight(self.to) + TimeDelta::days(1),
        )
    }
}

fn china_midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc() - TimeDelta::hours(8)
}

fn start_of_year(today: NaiveDate) -> NaiveDate {
    use chrono::Datelike;
    NaiveDate::from_ymd_opt(today.year(), 1, 1).unwrap_or(today)
}

/// Figures being added up for one town.
struct Tally {
    stages: [pb::StageFigures; 5],
    decided: u32,
    decided_on_time: u32,
    closed: u32,
    withdrawn: u32,
    ratings: pb::RatingFigures,
    rated_cases: std::collections::HashSet<String>,
}

impl Default for Tally {
    fn default() -> Self {
        Self {
            stages: STAGES.map(|stage| pb::StageFigures {
                stage: stage as i32,
                ..pb::StageFigures::default()
            }),
            decided: 0,
            decided_on_time: 0,
            closed: 0,
            withdrawn: 0,
            ratings: pb::RatingFigures {
                by_level: vec![0; 5],
                ..pb::RatingFigures::default()
            },
            rated_cases: std::collections::HashSet::new(),
        }
    }
}

impl Tally {
    fn stage(&mut self, stage: Stage) -> &mut pb::StageFigures {
        let index = STAGES.iter().position(|s| *s == stage).unwrap_or(0);
        &mut self.stages[index]
    }

    fn add(&mut self, other: &Tally) {
        for (mine, theirs) in self.stages.iter_mut().zip(&other.stages) {
            mine.open += theirs.open;
            mine.due_today += theirs.due_today;
            mine.overdue += theirs.overdue;
            mine.left += theirs.left;
            mine.left_on_time += theirs.left_on_time;
        }
        self.decided += other.decided;
        self.decided_on_time += other.decided_on_time;
        self.closed += other.closed;
        self.withdrawn += other.withdrawn;
        let (mine, theirs) = (&mut self.ratings, &other.ratings);
        for (level, count) in mine.by_level.iter_mut().zip(&theirs.by_level) {
            *level += count;
        }
        mine.invited += theirs.invited;
        mine.follow_ups_open += theirs.follow_ups_open;
        mine.follow_ups_overdue += theirs.follow_ups_overdue;
        mine.follow_ups_closed += theirs.follow_ups_closed;
        self.rated_cases.extend(other.rated_cases.iter().cloned());
    }

    fn finish(mut self, town_code: String, town_name: String) -> pb::TownFigures {
        for figures in &mut self.stages {
            figures.on_time_ratio = ratio(figures.left_on_time, figures.left);
        }
        let mut ratings = self.ratings;
        ratings.total = ratings.by_level.iter().sum();
        let satisfied: u32 = ratings.by_level.iter().skip(2).sum();
        ratings.satisfaction_ratio = ratio(satisfied, ratings.total);
        ratings.rated = u32::try_from(self.rated_cases.len()).unwrap_or(u32::MAX);
        pb::TownFigures {
            town_code,
            town_name,
            stages: self.stages.to_vec(),
            decided: self.decided,
            decided_on_time: self.decided_on_time,
            on_time_ratio: ratio(self.decided_on_time, self.decided),
            closed: self.closed,
            withdrawn: self.withdrawn,
            ratings: Some(ratings),
        }
    }
}

fn ratio(part: u32, whole: u32) -> f64 {
    if whole == 0 {
        1.0
    } else {
        f64::from(part) / f64::from(whole)
    }
}

/// The report for the towns `area` covers over `period`, as of `now`.
pub async fn report(
    store: &Store,
    area: &Scope,
    period: Period,
    now: DateTime<Utc>,
) -> Result<pb::SupervisionReport, DbErr> {
    let today = china_date(now);
    let db = &store.db;
    let (start, end) = period.bounds();
    let mut towns: BTreeMap<String, Tally> = BTreeMap::new();
    for town in &store.item.implementing_body.towns {
        if area.covers(&town.code) {
            towns.insert(town.code.clone(), Tally::default());
        }
    }

    // Open cases, as of now, with their legal clocks.
    let open = case::Entity::find()
        .filter(case::Column::IsFinal.eq(false))
        .all(db)
        .await?;
    let open_clocks = legal_clocks(store, open.iter().map(|c| c.case_number.clone())).await?;
    for case in &open {
        let town = store.town_of(case)?;
        if !area.covers(&town) {
            continue;
        }
        let Some(stage) = status::stage(&case.status) else {
            continue;
        };
        let tally = towns.entry(town).or_default();
        let figures = tally.stage(stage);
        figures.open += 1;
        if let Some(clock) = open_clocks.get(&case.case_number)
            && clock.state == "running"
        {
            if clock.deadline_at <= now {
                figures.overdue += 1;
            } else if clock.due_on == today {
                figures.due_today += 1;
            }
        }
    }

    // Cases received in the period: the stages they left, decisions, closings.
    let received = case::Entity::find()
        .filter(case::Column::ReceivedAt.gte(start))
        .filter(case::Column::ReceivedAt.lt(end))
        .all(db)
        .await?;
    let received: Vec<case::Model> = received
        .into_iter()
        .filter(|case| store.town_of(case).is_ok_and(|town| area.covers(&town)))
        .collect();
    let clocks = legal_clocks(store, received.iter().map(|c| c.case_number.clone())).await?;
    let mut steps: HashMap<String, Vec<step::Model>> = HashMap::new();
    for chunk in received.chunks(500) {
        let numbers: Vec<&str> = chunk.iter().map(|c| c.case_number.as_str()).collect();
        for row in step::Entity::find()
            .filter(step::Column::CaseNumber.is_in(numbers))
            .order_by_asc(step::Column::Id)
            .all(db)
            .await?
        {
            steps.entry(row.case_number.clone()).or_default().push(row);
        }
    }
    for case in &received {
        let tally = towns.entry(store.town_of(case)?).or_default();
        let deadline = clocks.get(&case.case_number);
        let mut current: Option<Stage> = None;
        for row in steps.get(&case.case_number).into_iter().flatten() {
            let next = status::stage(&row.status);
            if let Some(left) = current
                && next != current
            {
                let on_time = match left {
                    Stage::Receive | Stage::Deliver => true,
                    _ => deadline.is_none_or(|clock| row.at <= clock.deadline_at),
                };
                let figures = tally.stage(left);
                figures.left += 1;
                figures.left_on_time += u32::from(on_time);
            }
            current = next;
        }
        if status::is_decided(&case.status) {
            tally.decided += 1;
            let on_time = deadline.is_none_or(|clock| {
                clock
                    .stopped_at
                    .is_some_and(|stopped| stopped <= clock.deadline_at)
            });
            tally.decided_on_time += u32::from(on_time);
        }
        if case.is_final {
            tally.closed += 1;
        }
        if case.status == status::WITHDRAWN {
            tally.withdrawn += 1;
        }
        if case.rating_invited_at.is_some_and(|at| period.contains(at)) {
            tally.ratings.invited += 1;
        }
    }

    // Ratings given in the period, and follow-up tasks.
    let ratings = rating::Entity::find()
        .filter(rating::Column::RatedAt.gte(start))
        .filter(rating::Column::RatedAt.lt(end))
        .all(db)
        .await?;
    for rating in ratings.iter().filter(|r| area.covers(&r.town_code)) {
        let tally = towns.entry(rating.town_code.clone()).or_default();
        let index = usize::try_from(rating.level.clamp(1, 5) - 1).unwrap_or(0);
        tally.ratings.by_level[index] += 1;
        tally.rated_cases.insert(rating.case_number.clone());
    }
    let tasks = follow_up::Entity::find()
        .filter(follow_up::Column::TownCode.starts_with(area.as_str()))
        .all(db)
        .await?;
    for task in &tasks {
        let tally = towns.entry(task.town_code.clone()).or_default();
        match task.closed_at {
            None => {
                tally.ratings.follow_ups_open += 1;
                if task.due_on < today {
                    tally.ratings.follow_ups_overdue += 1;
                }
            }
            Some(closed) if period.contains(closed) => tally.ratings.follow_ups_closed += 1,
            Some(_) => {}
        }
    }

    let mut total = Tally::default();
    let mut rows = Vec::with_capacity(towns.len() + 1);
    for (code, tally) in towns {
        total.add(&tally);
        let name = store
            .item
            .implementing_body
            .towns
            .iter()
            .find(|town| town.code == code)
            .map_or_else(
                || store.item.implementing_body.name.clone(),
                |town| town.name.clone(),
            );
        rows.push(tally.finish(code, name));
    }
    let county = &store.item.implementing_body.region_code;
    if area.covers(county) {
        rows.push(total.finish(county.clone(), "合计".to_owned()));
    }
    Ok(pb::SupervisionReport {
        as_of: china_rfc3339(now),
        today: today.to_string(),
        towns: rows,
        from: period.from.to_string(),
        to: period.to.to_string(),
    })
}

/// The legal time-limit clocks of `cases`.
async fn legal_clocks(
    store: &Store,
    cases: impl Iterator<Item = String>,
) -> Result<HashMap<String, clock::Model>, DbErr> {
    let numbers: Vec<String> = cases.collect();
    let mut clocks = HashMap::with_capacity(numbers.len());
    for chunk in numbers.chunks(500) {
        for row in clock::Entity::find()
            .filter(clock::Column::LimitKind.eq(LimitKind::Legal.code()))
            .filter(clock::Column::CaseNumber.is_in(chunk.iter().map(String::as_str)))
            .all(&store.db)
            .await?
        {
            clocks.insert(row.case_number.clone(), row);
        }
    }
    Ok(clocks)
}

fn follow_up_to_proto(task: &follow_up::Model, today: NaiveDate) -> pb::FollowUp {
    pb::FollowUp {
        follow_up_id: task.id.clone(),
        case_number: task.case_number.clone(),
        town_code: task.town_code.clone(),
        channel: crate::api::rating_channel_to_proto(&task.channel) as i32,
        level: task.level,
        comment: task.comment.clone(),
        opened_at: china_rfc3339(task.opened_at),
        due_on: task.due_on.to_string(),
        due_on_confirmed: task.due_on_confirmed,
        outcome: task.outcome.clone().unwrap_or_default(),
        closed_at: task.closed_at.map(china_rfc3339).unwrap_or_default(),
        closed_by: task.closed_by.clone().unwrap_or_default(),
        overdue: task.outcome.is_none() && task.due_on < today,
    }
}

fn optional_date(field: &str, value: &str, v: &mut Violations) -> Option<NaiveDate> {
    if validate::trim(value).is_empty() {
        return None;
    }
    validate::date(value)
        .map_err(|problem| v.add(field, problem))
        .ok()
}

/// A follow-up id: `FU-`, a case number and a channel; at most 96 letters, digits, '-' and '_'.
fn follow_up_id(value: &str, v: &mut Violations) -> String {
    let value = validate::trim(value);
    let well_formed = value.starts_with("FU-")
        && value.len() <= 96
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        v.add(
            "follow_up_id",
            "must be a follow-up id as listed: FU-, the case number and the channel",
        );
    }
    value.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_period_is_whole_china_days() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 4).unwrap();
        let period = Period { from: day, to: day };
        let (start, end) = period.bounds();
        assert_eq!(start.to_rfc3339(), "2026-12-03T16:00:00+00:00");
        assert_eq!(end.to_rfc3339(), "2026-12-04T16:00:00+00:00");
        assert!(period.contains(start));
        assert!(!period.contains(end));
    }

    #[test]
    fn ratios_of_nothing_are_whole() {
        assert!((ratio(0, 0) - 1.0).abs() < f64::EPSILON);
        assert!((ratio(1, 4) - 0.25).abs() < f64::EPSILON);
    }

    #[test]
    fn arguments_are_checked_together() {
        let mut v = Violations::default();
        assert!(optional_date("from", "2026-13-01", &mut v).is_none());
        follow_up_id("DROP TABLE", &mut v);
        let message = v.into_result().unwrap_err().message().to_owned();
        for field in ["from", "follow_up_id"] {
            assert!(message.contains(field), "{field}: {message}");
        }
    }
}
