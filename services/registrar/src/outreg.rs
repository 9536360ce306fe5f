//! Outbound registrations (`register =>` in sip.conf) as the registrar
//! hands them out: each line to exactly one edge at a time, by a lease in
//! the store that the holder renews each time it asks (and another edge
//! takes once it stops), and the digest for the provider's challenge
//! computed here, where the secrets are.

use crate::register::Registrar;
use crate::store::StoreError;
use crate::trunks::{sign_as, SignError};
use asterism_config::register_line::Registration;
use asterism_proto::registrar::{OutboundRegistration, RegistrationsResponse};

/// A line's stable id: `user@host:port`.
pub fn id(r: &Registration) -> String {
    format!("{}@{}:{}", r.user, r.host, r.port)
}

/// What chan_sip asks for without `~expiry` (its `default_expiry`).
pub const DEFAULT_EXPIRY: u32 = 120;

fn pb(r: &Registration, retry_secs: u32) -> OutboundRegistration {
    OutboundRegistration {
        id: id(r),
        user: r.user.clone(),
        domain: r.domain.clone().unwrap_or_else(|| r.host.clone()),
        host: r.host.clone(),
        port: u32::from(r.port),
        contact_user: r.extension.clone(),
        expiry: r.expiry.unwrap_or(DEFAULT_EXPIRY),
        retry_secs,
    }
}

impl Registrar {
    /// The lines `edge_id` holds now (leases taken or renewed for `lease_secs`).
    pub async fn registrations(
        &self,
        edge_id: &str,
        lease_secs: u32,
    ) -> Result<RegistrationsResponse, StoreError> {
        let dir = &self.auth.directory;
        let mut held = Vec::new();
        for r in &dir.registrations {
            let name = format!("outreg:{}", id(r));
            let ttl = u64::from(lease_secs.clamp(3, 300));
            if self.store.lease(&name, edge_id, ttl).await? {
                held.push(pb(r, dir.register_timeout));
            }
        }
        Ok(RegistrationsResponse {
            held,
            total: dir.registrations.len() as u32,
        })
    }

    /// The Authorization for registration `reg`'s provider: its authuser
    /// (else its user) and secret.
    pub fn sign_registration(
        &self,
        reg: &str,
        method: &str,
        uri: &str,
        challenge: &str,
    ) -> Result<String, SignError> {
        let r = self
            .auth
            .directory
            .registrations
            .iter()
            .find(|r| id(r) == reg)
            .ok_or(SignError::NotATrunk)?;
        if r.secret.is_empty() {
            return Err(SignError::NoCredentials);
        }
        let user = if r.auth_user.is_empty() {
            &r.user
        } else {
            &r.auth_user
        };
        sign_as((user, &r.secret), method, uri, challenge)
    }
}
