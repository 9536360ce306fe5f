//! The router service: Asterisk's `extensions.conf`, interpreted. Each call
//! is a [`engine::Call`] driven over its own `Router.Execute` stream or a
//! lane of many calls (`Router.ExecuteLane`); the
//! dialplan itself is shared, swapped whole on reload, and never changed
//! under a running call.

pub mod astdb;
pub mod config;
pub mod dialplan;
pub mod drive;
pub mod engine;
pub mod features_conf;
pub mod grpc;
pub mod lanes;
pub mod service;

pub use service::Router;
