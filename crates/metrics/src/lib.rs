//! The Prometheus metrics every service exposes: one registry per process, filled by the gRPC
//! edge, the outbox relay, the consumers and the service's own samplers, read by `/metrics`.
//!
//! Built on the `prometheus` crate without its default features: it gives typed counters,
//! gauges and histograms with the text format, and nothing else to compile. Labels carry
//! method names, event types, consumers, outcomes and stages only: never a case number or
//! anything about a person.

use std::sync::OnceLock;

use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// Every metric of one process.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// gRPC calls answered, by method and status code.
    pub grpc_requests: IntCounterVec,
    /// gRPC calls answered with a status other than `OK`, by method and status code.
    pub grpc_errors: IntCounterVec,
    /// Seconds from a gRPC call's arrival to its response headers, by method.
    pub grpc_duration: HistogramVec,
    /// Events the outbox relay published and JetStream stored, by event type.
    pub events_published: IntCounterVec,
    /// Events a consumer settled, by consumer, event type and outcome.
    pub events_consumed: IntCounterVec,
    /// Seconds a consumer's handler took for one event, by consumer and event type.
    pub handler_duration: HistogramVec,
    /// Outbox rows not yet published (sampled).
    pub outbox_backlog: IntGauge,
    /// Age in seconds of the oldest unpublished outbox row; 0 when there is none (sampled).
    pub outbox_oldest_age: Gauge,
    /// Events this process parked on the dead-letter stream, by consumer.
    pub dead_letters: IntCounterVec,
    /// Cases in each stage (sampled by the service that owns cases).
    pub cases: IntGaugeVec,
    /// Decided cases decided within their promised time limit, as a share of all decided
    /// cases (sampled by the service that owns cases; 1 before any decision).
    pub on_time_ratio: Gauge,
    /// Whether the database and NATS were both reachable at the last check (1 or 0).
    pub ready: IntGauge,
}

/// Buckets for handler and call durations, in seconds: a few milliseconds to half a minute.
const DURATION_BUCKETS: [f64; 12] = [
    0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0,
];

impl Metrics {
    fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let metric = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(metric.clone()))?;
            Ok::<_, prometheus::Error>(metric)
        };
        let histogram = |name: &str, help: &str, labels: &[&str]| {
            let opts = HistogramOpts::new(name, help).buckets(DURATION_BUCKETS.to_vec());
            let metric = HistogramVec::new(opts, labels)?;
            registry.register(Box::new(metric.clone()))?;
            Ok::<_, prometheus::Error>(metric)
        };
        let grpc_requests = counter(
            "residence_grpc_requests_total",
            "gRPC calls answered, by method and status code",
            &["method", "code"],
        )?;
        let grpc_errors = counter(
            "residence_grpc_errors_total",
            "gRPC calls answered with a status other than OK, by method and status code",
            &["method", "code"],
        )?;
        let grpc_duration = histogram(
            "residence_grpc_request_duration_seconds",
            "Seconds from a gRPC call's arrival to its response, by method",
            &["method"],
        )?;
        let events_published = counter(
            "residence_events_published_total",
            "Events the outbox relay published and JetStream stored, by event type",
            &["type"],
        )?;
        let events_consumed = counter(
            "residence_events_consumed_total",
            "Events settled by a consumer, by consumer, event type and outcome",
            &["consumer", "type", "outcome"],
        )?;
        let handler_duration = histogram(
            "residence_event_handler_duration_seconds",
            "Seconds a consumer's handler took for one event, by consumer and event type",
            &["consumer", "type"],
        )?;
        let dead_letters = counter(
            "residence_dead_letters_total",
            "Events parked on the dead-letter stream by this process, by consumer",
            &["consumer"],
        )?;
        let outbox_backlog =
            IntGauge::new("residence_outbox_backlog", "Outbox rows not yet published")?;
        let outbox_oldest_age = Gauge::new(
            "residence_outbox_oldest_age_seconds",
            "Age of the oldest unpublished outbox row in seconds, 0 when there is none",
        )?;
        let cases = IntGaugeVec::new(
            Opts::new("residence_cases", "Cases in each stage"),
            &["stage"],
        )?;
        let on_time_ratio = Gauge::new(
            "residence_cases_on_time_ratio",
            "Share of decided cases decided within their promised time limit",
        )?;
        let ready = IntGauge::new(
            "residence_ready",
            "1 when the database and NATS were reachable at the last check, else 0",
        )?;
        for gauge in [&outbox_backlog, &ready] {
            registry.register(Box::new(gauge.clone()))?;
        }
        for gauge in [&outbox_oldest_age, &on_time_ratio] {
            registry.register(Box::new(gauge.clone()))?;
        }
        registry.register(Box::new(cases.clone()))?;
        on_time_ratio.set(1.0);

        Ok(Self {
            registry,
            grpc_requests,
            grpc_errors,
            grpc_duration,
            events_published,
            events_consumed,
            handler_duration,
            outbox_backlog,
            outbox_oldest_age,
            dead_letters,
            cases,
            on_time_ratio,
            ready,
        })
    }

    /// Every metric in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut text = Vec::new();
        // Encoding into a Vec fails only on metrics that break the format, which ours do not.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut text);
        String::from_utf8(text).unwrap_or_default()
    }
}

/// The metrics of this process, made on first use.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    // The names and labels above are fixed and valid, so making them cannot fail.
    METRICS.get_or_init(|| Metrics::new().expect("metric definitions are valid"))
}

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_rendered_with_its_labels() {
        let metrics = global();
        metrics
            .grpc_requests
            .with_label_values(&["/residence.v1.IntakeService/SubmitApplication", "OK"])
            .inc();
        metrics
            .events_consumed
            .with_label_values(&["review", "residence.v1.application.accepted", "done"])
            .inc();
        metrics.cases.with_label_values(&["review"]).set(3);
        let text = metrics.render();
        for name in [
            "residence_grpc_requests_total",
            "residence_events_consumed_total",
            "residence_outbox_backlog",
            "residence_outbox_oldest_age_seconds",
            "residence_cases_on_time_ratio 1",
            "residence_cases{stage=\"review\"} 3",
        ] {
            assert!(text.contains(name), "{name} missing from\n{text}");
        }
    }
}
