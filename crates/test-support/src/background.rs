//! The work a service does beside its API (consumers, the outbox relay, watches), run as tasks
//! inside the test and stopped together at its end.

use std::future::Future;
use std::sync::Arc;

use anyhow::{Context, Result};
use async_nats::jetstream;
use residence_eventing::{ConsumerSpec, Handler, run_consumer};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::wait::DEADLINE;

/// Tasks sharing one shutdown token. Stop them with [`Background::stop`], which also fails the
/// test if one of them panicked or does not stop in time.
#[derive(Default)]
pub struct Background {
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Background {
    /// No tasks yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The token every task is given; cancelled by [`Background::stop`].
    pub fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// Spawns the task `start` makes from the shutdown token, such as a relay's or a watch's
    /// `run`.
    pub fn spawn<F, Fut>(&mut self, start: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let task = start(self.shutdown.clone());
        self.tasks.push(tokio::spawn(task));
    }

    /// Runs `handler` as the durable consumer `spec` describes, as the service would.
    pub fn consume<H: Handler>(
        &mut self,
        jetstream: &jetstream::Context,
        spec: ConsumerSpec,
        handler: H,
    ) {
        let jetstream = jetstream.clone();
        self.spawn(|shutdown| run_consumer(jetstream, spec, Arc::new(handler), shutdown));
    }

    /// Cancels the shutdown token and waits for every task to end, each within [`DEADLINE`].
    pub async fn stop(self) -> Result<()> {
        self.shutdown.cancel();
        for task in self.tasks {
            tokio::time::timeout(DEADLINE, task)
                .await
                .context("task did not stop")??;
        }
        Ok(())
    }
}
