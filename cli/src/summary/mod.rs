//! What a run did, counted from the services' own databases and the partner simulators'
//! record files, never from the client's bookkeeping.

pub(crate) mod query;
mod records;
mod stats;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use records::{RecordTally, tally};
pub use stats::{
    CaseTimes, Timing, parse_timestamp, percentile, surplus, surplus_of_counts, timing,
};

use query::{Store, in_list};

use crate::applicant::level_name;
use crate::system::{Service, Simulator};

/// The services whose databases a summary reads.
const SERVICES_READ: [Service; 6] = [
    Service::Intake,
    Service::Review,
    Service::Decision,
    Service::Delivery,
    Service::Courier,
    Service::Elicense,
];

/// Where the services keep their state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Databases {
    /// One SQLite file per service, `<data_dir>/<service>.db`.
    Sqlite {
        /// The services' data folder.
        data_dir: PathBuf,
    },
    /// One PostgreSQL database; each service's tables live in the schema named after it.
    Postgres {
        /// The database URL.
        url: String,
    },
}

/// Everything a summary reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sources {
    /// The services' databases.
    pub databases: Databases,
    /// The folder holding the simulators' `<simulator>.jsonl` record files.
    pub records_dir: PathBuf,
}

/// Side effects that happened more than once, each the count beyond one per key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Duplicates {
    /// Courier `waybills` rows beyond one per case.
    pub waybills: u64,
    /// E-license `licenses` rows beyond one per case.
    pub licenses: u64,
    /// Intake `case_steps` rows beyond one per case, status and note (a case may pass a status
    /// twice, as when a reviewer returns it, but never with the same note).
    pub case_steps: u64,
    /// Logistics partner records beyond one per parcel reference.
    pub logistics_records: u64,
    /// E-license platform records beyond one per license identifier.
    pub platform_records: u64,
}

impl Duplicates {
    /// All duplicate effects together.
    pub fn total(&self) -> u64 {
        self.waybills
            + self.licenses
            + self.case_steps
            + self.logistics_records
            + self.platform_records
    }
}

/// Counts of one run. Serialises to the JSON object the demo prints.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Rows in intake `cases`.
    pub submitted: u64,
    /// Cases with `accepted_at` set (受理).
    pub accepted: u64,
    /// Cases refused at acceptance (不予受理).
    pub refused: u64,
    /// Refused cases per refusal reason code; a case refused for two reasons counts under both.
    pub refusals_by_reason: BTreeMap<String, u64>,
    /// Cases sent one supplement notice (补正) and accepted once the applicant answered.
    pub supplement_round_trips: u64,
    /// Cases whose applicant asked to withdraw them (撤回申请), from intake's audit trail.
    #[serde(default)]
    pub withdrawals_requested: u64,
    /// Cases withdrawn: final without a decision.
    #[serde(default)]
    pub withdrawn: u64,
    /// Of those, cases withdrawn before acceptance.
    #[serde(default)]
    pub withdrawn_before_acceptance: u64,
    /// Cases the automatic checks sent to a reviewer (rows in review `review_tasks`).
    #[serde(default)]
    pub manual_reviews: u64,
    /// Of those, cases a reviewer returned to the applicant for supplement.
    #[serde(default)]
    pub returned_by_review: u64,
    /// Cases a reviewer referred with findings to the deciding officer.
    #[serde(default)]
    pub referred_to_officer: u64,
    /// Decisions the deciding officer made on referred cases (`decided_by` set).
    #[serde(default)]
    pub decided_by_officer: u64,
    /// Decisions with outcome `approved`.
    pub approved: u64,
    /// Decisions with outcome `denied`.
    pub denied: u64,
    /// Deliveries in state `delivered`.
    pub delivered_by_courier: u64,
    /// Deliveries in state `collected`.
    pub collected_in_person: u64,
    /// Cases with at least one e-license.
    pub licenses_issued: u64,
    /// Distinct license identifiers the e-license platform recorded.
    pub licenses_acknowledged: u64,
    /// Ratings of closed cases (好差评), all channels.
    #[serde(default)]
    pub ratings: u64,
    /// Ratings per level, `"1"` (非常不满意) to `"5"` (非常满意).
    #[serde(default)]
    pub ratings_by_level: BTreeMap<String, u64>,
    /// Follow-up tasks (差评整改) the dissatisfied ratings opened.
    #[serde(default)]
    pub follow_ups_opened: u64,
    /// Of those, tasks staff closed with an outcome.
    #[serde(default)]
    pub follow_ups_closed: u64,
    /// Cases not in a final status.
    pub not_final: u64,
    /// The sum of [`Duplicates`].
    pub duplicate_effects: u64,
    /// Where the duplicate effects are.
    pub duplicates: Duplicates,
    /// Effects a withdrawn case must not have, each counted once per case: a decision
    /// (approved or denied), a delivery, an e-license.
    #[serde(default)]
    pub withdrawn_with_effects: u64,
    /// From the first case received to the last case closed.
    pub elapsed_ms: u64,
    /// Final cases per second over `elapsed_ms`.
    pub throughput_per_s: f64,
    /// Median time from receipt to final status.
    pub latency_p50_ms: u64,
    /// 99th percentile of the time from receipt to final status.
    pub latency_p99_ms: u64,
    /// Sources that could not be read, or rows that made no sense; empty when all is well.
    pub problems: Vec<String>,
}

impl Summary {
    /// Reads every source. A source that cannot be read leaves its counts at 0 and adds a
    /// line to `problems` instead of failing the whole summary.
    pub async fn collect(sources: &Sources) -> Summary {
        let mut summary = Summary::default();
        // Intake, read first, names the withdrawn cases the other services are checked for.
        let mut withdrawn = Vec::new();
        for service in SERVICES_READ {
            let read = match Store::open(&sources.databases, service).await {
                Ok(store) => {
                    let read = summary.read(service, &store, &mut withdrawn).await;
                    store.close().await;
                    read
                }
                Err(error) => Err(error),
            };
            if let Err(error) = read {
                summary
                    .problems
                    .push(format!("{service} database: {error:#}"));
            }
        }
        summary.read_records(sources);
        summary.duplicate_effects = summary.duplicates.total();
        summary
    }

    /// Whether the run ended well: every case final, no duplicate effect, no effect of a
    /// withdrawn case, nothing unread.
    pub fn is_clean(&self) -> bool {
        self.not_final == 0
            && self.duplicate_effects == 0
            && self.withdrawn_with_effects == 0
            && self.problems.is_empty()
    }

    /// Cases in a final status.
    pub fn final_cases(&self) -> u64 {
        self.submitted.saturating_sub(self.not_final)
    }

    async fn read(
        &mut self,
        service: Service,
        store: &Store,
        withdrawn: &mut Vec<String>,
    ) -> anyhow::Result<()> {
        let of_withdrawn = format!("case_number IN ({})", in_list(withdrawn));
        match service {
            Service::Intake => *withdrawn = self.read_intake(store).await?,
            Service::Decision => {
                let outcomes = store.count_by("decisions", "outcome").await?;
                self.approved = outcomes.get("approved").copied().unwrap_or(0);
                self.denied = outcomes.get("denied").copied().unwrap_or(0);
                let by_officer = "decided_by IS NOT NULL";
                self.decided_by_officer = store.count_where("decisions", by_officer).await?;
                let decided = format!("outcome IN ('approved', 'denied') AND {of_withdrawn}");
                let effects = store.distinct_where("decisions", "case_number", &decided);
                self.withdrawn_with_effects += effects.await?;
            }
            Service::Delivery => {
                let states = store.count_by("deliveries", "state").await?;
                self.delivered_by_courier = states.get("delivered").copied().unwrap_or(0);
                self.collected_in_person = states.get("collected").copied().unwrap_or(0);
                let effects = store.distinct_where("deliveries", "case_number", &of_withdrawn);
                self.withdrawn_with_effects += effects.await?;
            }
            Service::Courier => {
                self.duplicates.waybills = store.surplus("waybills", "case_number").await?;
            }
            Service::Elicense => {
                self.licenses_issued = store.distinct("licenses", "case_number").await?;
                self.duplicates.licenses = store.surplus("licenses", "case_number").await?;
                let effects = store.distinct_where("licenses", "case_number", &of_withdrawn);
                self.withdrawn_with_effects += effects.await?;
            }
            Service::Review => {
                let states = store.count_by("review_tasks", "state").await?;
                self.manual_reviews = states.values().sum();
                self.referred_to_officer = states.get("referred").copied().unwrap_or(0);
                self.returned_by_review =
                    store.count_where("review_tasks", "returned_once").await?;
            }
        }
        Ok(())
    }

    /// Reads intake's counts and returns the withdrawn cases.
    async fn read_intake(&mut self, store: &Store) -> anyhow::Result<Vec<String>> {
        let counts = store.case_counts().await?;
        self.submitted = counts.submitted;
        self.accepted = counts.accepted;
        self.refused = counts.refused;
        self.not_final = counts.not_final;
        self.refusals_by_reason = store.refusals_by_reason().await?;
        self.supplement_round_trips = store.supplement_round_trips().await?;
        let step = "case_number, status, note";
        self.duplicates.case_steps = store.surplus("case_steps", step).await?;

        let (times, unreadable) = store.case_times().await?;
        if unreadable > 0 {
            self.problems.push(format!(
                "intake database: {unreadable} cases with unreadable times"
            ));
        }
        self.set_timing(timing(&times));
        self.read_feedback(store).await?;
        store.cases_in("withdrawn").await
    }

    /// Withdrawals, ratings and follow-up tasks, from intake's tables.
    async fn read_feedback(&mut self, store: &Store) -> anyhow::Result<()> {
        let requested = "action = 'case.withdrawal_requested'";
        self.withdrawals_requested = store
            .distinct_where("audit_records", "case_number", requested)
            .await?;
        self.withdrawn = store.count_where("cases", "status = 'withdrawn'").await?;
        let early = "status = 'withdrawn' AND accepted_at IS NULL";
        self.withdrawn_before_acceptance = store.count_where("cases", early).await?;

        let by_level = store.count_by("case_ratings", "level").await?;
        self.ratings = by_level.values().sum();
        self.ratings_by_level = (1..=5)
            .map(|level: u8| {
                let level = level.to_string();
                let count = by_level.get(&level).copied().unwrap_or(0);
                (level, count)
            })
            .collect();
        self.follow_ups_opened = store.distinct("follow_ups", "id").await?;
        let closed = "closed_at IS NOT NULL";
        self.follow_ups_closed = store.count_where("follow_ups", closed).await?;
        Ok(())
    }

    /// `refused for: too_early 3, ...`, when any case was refused.
    fn refusals_line(&self) -> Option<String> {
        if self.refusals_by_reason.is_empty() {
            return None;
        }
        let reasons: Vec<String> = self
            .refusals_by_reason
            .iter()
            .map(|(code, n)| format!("{code} {n}"))
            .collect();
        Some(format!("refused for: {}", reasons.join(", ")))
    }

    /// `by level: 非常不满意 1, 不满意 0, 基本满意 2, 满意 5, 非常满意 9`, when any case was
    /// rated.
    fn levels_line(&self) -> Option<String> {
        if self.ratings == 0 {
            return None;
        }
        let levels: Vec<String> = self
            .ratings_by_level
            .iter()
            .map(|(level, count)| {
                let name = level.parse().map_or("?", level_name);
                format!("{name} {count}")
            })
            .collect();
        Some(format!("by level: {}", levels.join(", ")))
    }

    /// Where the duplicate effects are, when there are any.
    fn duplicates_line(&self) -> Option<String> {
        let d = &self.duplicates;
        (d.total() > 0).then(|| {
            format!(
                "waybills {}, licenses {}, case steps {}, logistics records {}, platform \
                 records {}",
                d.waybills, d.licenses, d.case_steps, d.logistics_records, d.platform_records
            )
        })
    }

    fn set_timing(&mut self, timing: Timing) {
        self.elapsed_ms = timing.elapsed_ms;
        self.throughput_per_s = timing.throughput_per_s;
        self.latency_p50_ms = timing.latency_p50_ms;
        self.latency_p99_ms = timing.latency_p99_ms;
    }

    fn read_records(&mut self, sources: &Sources) {
        let logistics = Simulator::LogisticsPartner.record_file(&sources.records_dir);
        match tally(&logistics, "parcel_reference") {
            Ok(tally) => {
                self.duplicates.logistics_records = tally.surplus;
                self.note_unreadable(Simulator::LogisticsPartner, &tally);
            }
            Err(error) => self
                .problems
                .push(format!("{}: {error}", logistics.display())),
        }

        let platform = Simulator::ElicensePlatform.record_file(&sources.records_dir);
        match tally(&platform, "identifier") {
            Ok(tally) => {
                self.licenses_acknowledged = tally.distinct;
                self.duplicates.platform_records = tally.surplus;
                self.note_unreadable(Simulator::ElicensePlatform, &tally);
            }
            Err(error) => self
                .problems
                .push(format!("{}: {error}", platform.display())),
        }
    }

    fn note_unreadable(&mut self, simulator: Simulator, tally: &RecordTally) {
        if tally.unreadable > 0 {
            self.problems.push(format!(
                "{} records: {} of {} lines unreadable",
                simulator.name(),
                tally.unreadable,
                tally.lines
            ));
        }
    }
}

impl fmt::Display for Summary {
    /// A two-column table for people; some rows have a line of detail under them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counts = [
            ("submitted", self.submitted, None),
            ("accepted", self.accepted, None),
            ("refused", self.refused, self.refusals_line()),
            ("supplement round trips", self.supplement_round_trips, None),
            ("withdrawals requested", self.withdrawals_requested, None),
            ("withdrawn", self.withdrawn, None),
            (
                "  before acceptance",
                self.withdrawn_before_acceptance,
                None,
            ),
            ("manual reviews", self.manual_reviews, None),
            ("  returned for supplement", self.returned_by_review, None),
            ("  referred to the officer", self.referred_to_officer, None),
            ("approved", self.approved, None),
            ("denied", self.denied, None),
            ("  by the officer", self.decided_by_officer, None),
            ("delivered by courier", self.delivered_by_courier, None),
            ("collected in person", self.collected_in_person, None),
            ("licenses issued", self.licenses_issued, None),
            ("licenses acknowledged", self.licenses_acknowledged, None),
            ("ratings", self.ratings, self.levels_line()),
            ("follow-ups opened", self.follow_ups_opened, None),
            ("follow-ups closed", self.follow_ups_closed, None),
            ("not final", self.not_final, None),
            (
                "duplicate effects",
                self.duplicate_effects,
                self.duplicates_line(),
            ),
            ("withdrawn with effects", self.withdrawn_with_effects, None),
        ];
        for (label, value, detail) in counts {
            writeln!(f, "  {label:<26}{value:>10}")?;
            if let Some(detail) = detail {
                writeln!(f, "    {detail}")?;
            }
        }
        writeln!(
            f,
            "  {:<26}{:>10.1} s",
            "elapsed",
            self.elapsed_ms as f64 / 1000.0
        )?;
        writeln!(
            f,
            "  {:<26}{:>10.2} cases/s",
            "throughput", self.throughput_per_s
        )?;
        writeln!(f, "  {:<26}{:>10} ms", "latency p50", self.latency_p50_ms)?;
        writeln!(f, "  {:<26}{:>10} ms", "latency p99", self.latency_p99_ms)?;
        for problem in &self.problems {
            writeln!(f, "  problem: {problem}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
