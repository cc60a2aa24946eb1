//! Insurer connector: the signed HTTP client for our outbound calls to external insurers (the
//! FHIR R4 resources themselves live in `crate::fhir`), and the signed webhooks they call (claim responses, payments).
//! `connector` drives the outbound calls from case submission through the durable outbox;
//! `decide` applies what insurers answer to the case.

pub mod api;
pub mod client;
pub mod connector;
pub mod service;
pub mod store;

pub use client::{ClaimSubmission, ConnectorError, InsurerClient};
