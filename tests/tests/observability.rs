//! One courier application through the running system with OTLP export on, received by a
//! small OTLP collector in this test: its spans from all six services make one connected
//! trace that carries none of the applicant's personal data. Along the way, the metrics and
//! health endpoints of intake report what happened, and readiness follows NATS and the
//! database going away and coming back.
//!
//! The service binaries must be built first (`cargo build --workspace --bins`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use residence_cli::system::{Service, System, SystemOptions};
use residence_proto::v1 as pb;
use residence_runtime::time::china_today;
use residence_system_tests::system::{finish, wait_for_license, wait_for_status};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// A synthetic applicant: a valid GB 11643 number of no real person.
const ID_NUMBER: &str = "411721199001011237";
const NAME: &str = "测试申请人";
const PHONE: &str = "13800000000";
const RECIPIENT_PHONE: &str = "13900000000";
const ADDRESS: &str = "河南省驻马店市西平县五沟营镇东街村三组12号";

/// The method whose server span roots the case's trace.
const SUBMIT: &str = "residence.v1.IntakeService/SubmitApplication";

/// One received span and the service that sent it.
#[derive(Clone, Debug)]
struct Received {
    service: String,
    span: Span,
}

/// An OTLP/gRPC trace collector keeping every span it receives.
#[derive(Clone, Debug, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Received>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut kept = self.spans.lock().expect("collector lock");
        for resource_spans in request.into_inner().resource_spans {
            let attributes = resource_spans
                .resource
                .map(|resource| resource.attributes)
                .unwrap_or_default();
            let service = text_of(&attributes, "service.name").unwrap_or_default();
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    let service = service.clone();
                    kept.push(Received { service, span });
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Collector {
    /// Serves on a free loopback port until `stop`; returns its address.
    async fn start(&self, stop: CancellationToken) -> Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(self.clone()))
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::TcpListenerStream::new(listener),
                async move { stop.cancelled().await },
            );
        tokio::spawn(server);
        Ok(addr)
    }

    fn spans(&self) -> Vec<Received> {
        self.spans.lock().expect("collector lock").clone()
    }
}

fn text_of(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|attribute| attribute.key == key)
        .and_then(|attribute| attribute.value.as_ref())
        .map(value_text)
}

fn value_text(value: &AnyValue) -> String {
    match &value.value {
        Some(any_value::Value::StringValue(text)) => text.clone(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn courier_application() -> pb::SubmitApplicationRequest {
    let kinds = [
        pb::MaterialKind::ResidencePermit,
        pb::MaterialKind::IdCard,
        pb::MaterialKind::ProofOfResidence,
    ];
    pb::SubmitApplicationRequest {
        client_request_id: uuid::Uuid::new_v4().to_string(),
        channel: pb::Channel::Online as i32,
        applicant: Some(pb::Applicant {
            name: NAME.into(),
            id_number: ID_NUMBER.into(),
            phone: PHONE.into(),
        }),
        permit: Some(pb::Permit {
            valid_until: (china_today() + chrono::Duration::days(10)).to_string(),
        }),
        residence_address: ADDRESS.into(),
        address_change: None,
        delivery: Some(pb::Delivery {
            method: pb::DeliveryMethod::Courier as i32,
            recipient_name: "测试收件人".into(),
            recipient_phone: RECIPIENT_PHONE.into(),
            recipient_address: ADDRESS.into(),
        }),
        materials: kinds
            .into_iter()
            .enumerate()
            .map(|(index, kind)| pb::Material {
                kind: kind as i32,
                reference: format!("scan-{index}"),
            })
            .collect(),
        agent: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_case_makes_one_connected_trace_and_the_metrics_count_it() -> Result<()> {
    let collector = Collector::default();
    let stop_collector = CancellationToken::new();
    let collector_addr = collector.start(stop_collector.clone()).await?;
    let options = SystemOptions {
        courier_failure_share: 0.0,
        run_prefix: "observability".into(),
        extra_env: vec![
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT".into(),
                format!("http://{collector_addr}"),
            ),
            // No batch leaves on its timer during the run: the spans arrive because each
            // service sends what it holds when it stops.
            ("OTEL_BSP_SCHEDULE_DELAY".into(), "600000".into()),
        ],
        ..SystemOptions::default()
    };
    let mut system = System::start(options).await?;
    let result = exercise(&mut system, &collector).await;
    let result = finish(system, result).await;
    stop_collector.cancel();
    result
}

async fn exercise(system: &mut System, collector: &Collector) -> Result<()> {
    let mut intake = system.intake_client()?;
    // A refused call, so that errors are counted too.
    let refused = intake
        .submit_application(pb::SubmitApplicationRequest::default())
        .await;
    ensure!(refused.is_err_and(|status| status.code() == tonic::Code::InvalidArgument));

    let submitted = intake
        .submit_application(courier_application())
        .await?
        .into_inner();
    wait_for_status(system, &submitted, pb::CaseStatus::Delivered).await?;
    wait_for_license(system, &submitted.case_number).await?;

    let metrics = system
        .metrics_addr(Service::Intake.name())
        .context("intake metrics address")?;
    check_metrics(metrics).await?;
    check_readiness(system, metrics).await?;

    // Stopping the services exports the spans they still hold.
    system.stop_processes().await?;
    check_trace(&collector.spans(), &submitted.case_number)
}

/// `GET path` over HTTP/1.1: the status code and the body.
async fn get(addr: SocketAddr, path: &str) -> Result<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .context("an HTTP status line")?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// Polls `GET path` until its status is `expected`.
async fn wait_status(addr: SocketAddr, path: &str, expected: u16) -> Result<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = get(addr, path).await?;
        if status == expected {
            return Ok(body);
        }
        if tokio::time::Instant::now() > deadline {
            bail!("{path} stayed {status}, expected {expected}: {body}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The value of the sample named exactly `sample` (name and labels) in a metrics text.
fn sample(text: &str, sample: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(sample)?.strip_prefix(' ')?.parse().ok())
}

async fn check_metrics(addr: SocketAddr) -> Result<()> {
    let (status, _) = get(addr, "/healthz").await?;
    ensure!(status == 200, "/healthz answered {status}");

    let submit = "method=\"/residence.v1.IntakeService/SubmitApplication\"";
    let expected = [
        ("residence_cases{stage=\"delivered\"}".to_owned(), 1.0),
        (
            format!("residence_grpc_requests_total{{code=\"OK\",{submit}}}"),
            1.0,
        ),
        (
            format!("residence_grpc_errors_total{{code=\"INVALID_ARGUMENT\",{submit}}}"),
            1.0,
        ),
        ("residence_outbox_backlog".to_owned(), 0.0),
        ("residence_cases_on_time_ratio".to_owned(), 1.0),
        ("residence_ready".to_owned(), 1.0),
        (
            "residence_dead_letters_total{consumer=\"intake-case-progress\"}".to_owned(),
            0.0,
        ),
    ];
    // Gauges are sampled every few seconds: wait until every value is in.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let text = loop {
        let text = wait_status(addr, "/metrics", 200).await?;
        let wrong: Vec<&str> = expected
            .iter()
            .filter(|(name, value)| sample(&text, name) != Some(*value))
            .map(|(name, _)| name.as_str())
            .collect();
        if wrong.is_empty() {
            break text;
        }
        if tokio::time::Instant::now() > deadline {
            bail!("unexpected values of {wrong:?}:\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for name in [
        "residence_events_published_total{type=\"residence.v1.application.accepted\"}",
        "residence_grpc_request_duration_seconds_count",
        "residence_outbox_oldest_age_seconds",
        "residence_event_handler_duration_seconds_bucket",
    ] {
        ensure!(text.contains(name), "{name} missing:\n{text}");
    }
    let consumed = text
        .lines()
        .any(|line| line.starts_with("residence_events_consumed_total") && line.contains("done"));
    ensure!(consumed, "no event consumed:\n{text}");
    for personal in [NAME, ID_NUMBER, PHONE, RECIPIENT_PHONE, ADDRESS] {
        ensure!(!text.contains(personal), "personal data in the metrics");
    }
    Ok(())
}

async fn check_readiness(system: &mut System, addr: SocketAddr) -> Result<()> {
    wait_status(addr, "/readyz", 200).await?;
    let mut health = HealthClient::new(system.channel(Service::Intake)?);
    wait_serving(&mut health, ServingStatus::Serving).await?;

    system.nats_server().stop().await;
    wait_status(addr, "/readyz", 503).await?;
    wait_serving(&mut health, ServingStatus::NotServing).await?;
    system.nats_server().start_again().await?;
    wait_status(addr, "/readyz", 200).await?;
    wait_serving(&mut health, ServingStatus::Serving).await?;

    // The SQLite file moved away, as if its disk were gone, and back.
    let file = system.data_dir().join("intake.db");
    let moved = system.data_dir().join("intake.db.away");
    std::fs::rename(&file, &moved)?;
    let outcome = wait_status(addr, "/readyz", 503).await;
    std::fs::rename(&moved, &file)?;
    let body = outcome?;
    ensure!(body.contains("database"), "{body}");
    wait_status(addr, "/readyz", 200).await?;
    Ok(())
}

async fn wait_serving(health: &mut HealthClient<Channel>, expected: ServingStatus) -> Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let request = tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        };
        let status = health.check(request).await?.into_inner().status();
        if status == expected {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("grpc health stayed {status:?}, expected {expected:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn check_trace(spans: &[Received], case_number: &str) -> Result<()> {
    let root = spans
        .iter()
        .find(|received| {
            received.span.name == SUBMIT
                && trace_has_case(spans, &received.span.trace_id, case_number)
        })
        .context("no span of the application's submission")?;
    let trace: Vec<&Received> = spans
        .iter()
        .filter(|received| received.span.trace_id == root.span.trace_id)
        .collect();

    let services: BTreeSet<&str> = trace.iter().map(|r| r.service.as_str()).collect();
    for service in Service::ALL {
        ensure!(
            services.contains(service.name()),
            "{service} is not in the trace; it holds {services:?}"
        );
    }

    let ids: BTreeSet<&[u8]> = trace.iter().map(|r| r.span.span_id.as_slice()).collect();
    let roots: Vec<&&Received> = trace
        .iter()
        .filter(|r| r.span.parent_span_id.is_empty())
        .collect();
    ensure!(roots.len() == 1, "{} roots: {roots:?}", roots.len());
    ensure!(
        roots[0].span.name == SUBMIT,
        "the root is {}",
        roots[0].span.name
    );
    let orphans: Vec<String> = trace
        .iter()
        .filter(|r| {
            !r.span.parent_span_id.is_empty() && !ids.contains(r.span.parent_span_id.as_slice())
        })
        .map(|r| format!("{} {}", r.service, r.span.name))
        .collect();
    ensure!(
        orphans.is_empty(),
        "spans whose parent is missing: {orphans:?}"
    );

    let mut per_service: BTreeMap<&str, usize> = BTreeMap::new();
    for received in &trace {
        *per_service.entry(received.service.as_str()).or_default() += 1;
        for value in span_texts(&received.span) {
            for personal in [
                NAME,
                ID_NUMBER,
                PHONE,
                RECIPIENT_PHONE,
                ADDRESS,
                "测试收件人",
            ] {
                ensure!(
                    !value.contains(personal),
                    "personal data in a span of {}: {}",
                    received.service,
                    received.span.name
                );
            }
        }
    }
    eprintln!("one trace, {} spans: {per_service:?}", trace.len());
    Ok(())
}

/// Whether the trace `trace_id` has a span naming `case_number`.
fn trace_has_case(spans: &[Received], trace_id: &[u8], case_number: &str) -> bool {
    spans.iter().any(|received| {
        received.span.trace_id == trace_id
            && text_of(&received.span.attributes, "case.number").as_deref() == Some(case_number)
    })
}

/// Every text a span carries: its name, attribute values, events and status message.
fn span_texts(span: &Span) -> Vec<String> {
    let mut texts = vec![span.name.clone()];
    texts.extend(
        span.attributes
            .iter()
            .filter_map(|a| a.value.as_ref().map(value_text)),
    );
    for event in &span.events {
        texts.push(event.name.clone());
        texts.extend(
            event
                .attributes
                .iter()
                .filter_map(|a| a.value.as_ref().map(value_text)),
        );
    }
    if let Some(status) = &span.status {
        texts.push(status.message.clone());
    }
    texts
}
