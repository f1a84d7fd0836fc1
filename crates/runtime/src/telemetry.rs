//! Logging and tracing: structured logs on standard error and OpenTelemetry spans whose W3C
//! trace context travels in gRPC metadata and NATS headers.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    Text,
    /// One JSON object per event.
    Json,
}

/// Keeps the tracer provider alive; flushes spans when dropped.
#[derive(Debug)]
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        // Nothing useful can be done with a flush error while exiting.
        let _ = self.provider.shutdown();
    }
}

/// Log filter when `RUST_LOG` is not set: our state changes at info, chatty dependencies quiet.
const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn,\
async_nats=warn,h2=warn,hyper=warn,tower=warn";

/// Spans recorded for tracing; kept separate from the log filter so that a quiet log level never
/// switches off the spans that carry trace context.
const SPAN_FILTER: &str = "info,sqlx=off,sea_orm=off,h2=off,hyper=off,tower=off";

/// Installs the global subscriber and propagator for `service`.
pub fn init(service: &str, format: LogFormat) -> anyhow::Result<Telemetry> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let resource = opentelemetry_sdk::Resource::builder().with_service_name(service.to_owned());
    // TODO(telemetry): export spans over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set; until
    // then spans only carry trace context from hop to hop.
    let provider = SdkTracerProvider::builder()
        .with_resource(resource.build())
        .build();
    let tracer = provider.tracer(service.to_owned());

    let log_filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    let logs = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_target(false)
            .with_filter(log_filter)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .with_filter(log_filter)
            .boxed(),
    };
    let spans = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(EnvFilter::new(SPAN_FILTER));
    tracing_subscriber::registry()
        .with(logs)
        .with(spans)
        .try_init()?;
    Ok(Telemetry { provider })
}
