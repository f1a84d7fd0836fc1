//! The offered load: on-time applications delivered by courier, submitted at a fixed rate or
//! as fast as intake takes them.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use residence_proto::v1 as pb;
use tokio::sync::Semaphore;

use crate::synthetic::{Generator, Scenario, SyntheticApplication};
use crate::system::System;

/// `count` synthetic applications that go the whole way on their own: on time, courier.
pub fn applications(seed: u64, count: usize) -> Vec<pb::SubmitApplicationRequest> {
    let today = residence_runtime::time::china_today();
    Generator::new(seed, today)
        .filter(|application| {
            application.scenario == Scenario::OnTime
                && application.delivery_method() == pb::DeliveryMethod::Courier
        })
        .map(|SyntheticApplication { request, .. }| request)
        .take(count)
        .collect()
}

/// Submits every request, `rate` per second when given, with at most `concurrency` in
/// flight. Returns how many were accepted; any other answer fails the run, since the figures
/// would not mean what they say.
pub async fn submit(
    system: &System,
    requests: Vec<pb::SubmitApplicationRequest>,
    rate: Option<f64>,
    concurrency: usize,
) -> Result<usize> {
    let client = system.intake_client()?;
    let slots = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut ticks = rate
        .filter(|rate| *rate > 0.0)
        .map(|rate| tokio::time::interval(Duration::from_secs_f64(1.0 / rate)));
    let mut calls = tokio::task::JoinSet::new();
    for request in requests {
        if let Some(ticks) = ticks.as_mut() {
            ticks.tick().await;
        }
        let permit = Arc::clone(&slots)
            .acquire_owned()
            .await
            .context("submission slots closed")?;
        let mut client = client.clone();
        calls.spawn(async move {
            let answer = client.submit_application(request).await;
            drop(permit);
            answer.map(|response| response.into_inner().status)
        });
    }
    let mut accepted = 0;
    while let Some(joined) = calls.join_next().await {
        let status = joined
            .context("a submission task failed")?
            .context("a submission was not taken")?;
        if status != pb::CaseStatus::Accepted as i32 {
            bail!("a benchmark application was not accepted (status {status})");
        }
        accepted += 1;
    }
    Ok(accepted)
}
