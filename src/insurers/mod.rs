//! Insurer connector: the FHIR R4 resources we exchange with external insurers, the signed HTTP
//! client for our outbound calls, and the signed webhooks they call (claim responses, payments).
//! Driving the outbound calls from case submission through the outbox comes with the outbox
//! worker.

pub mod api;
pub mod client;
pub mod fhir;
pub mod store;

pub use client::{ClaimSubmission, ConnectorError, InsurerClient};
