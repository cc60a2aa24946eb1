//! Prometheus metrics: requests and latency by route and status, one registry per app.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RouteLabels, Counter>,
    pub latency: Family<RouteLabels, Histogram>,
    /// 1 while this instance leads the once-per-cluster background work.
    pub leader: Gauge,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RouteLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.001, 2.0, 14))) as fn() -> Histogram,
        );
        registry.register(
            "medclaim_http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "medclaim_http_request_duration_seconds",
            "HTTP request latency",
            latency.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "medclaim_background_leader",
            "1 while this instance runs the once-per-cluster background work",
            leader.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            leader,
        }
    }
}

impl Metrics {
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String");
        out
    }
}
