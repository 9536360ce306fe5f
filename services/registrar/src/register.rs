//! The registrar's domain logic behind the gRPC calls: authenticate, apply
//! the expiry policy, update the store, and say what the edge must answer.

use crate::auth::{Attempt, AuthResult, Authenticator};
use crate::clock::now_ms;
use crate::expiry::{ExpiryPolicy, Granted};
use crate::store::bans::BanPolicy;
use crate::store::{BindingStore, Change, StoreError, Update, UpdateOutcome};
use asterism_proto::common::User as PbUser;
use asterism_proto::registrar::{
    AuthFailure, Binding, Challenge as PbChallenge, DigestCredentials, LookupResponse, Outcome,
    RegisterRequest, RegisterResponse,
};
use asterism_sip::digest::{Challenge, Credentials};
use std::net::IpAddr;
use std::sync::Arc;

pub struct Registrar {
    pub auth: Authenticator,
    pub store: Arc<dyn BindingStore>,
    pub policy: ExpiryPolicy,
    /// Contacts a user may hold when sip.conf says nothing (max_contacts=).
    pub max_contacts: u32,
    pub bans: BanPolicy,
}

pub(crate) fn credentials(c: &DigestCredentials) -> Credentials {
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    Credentials {
        username: c.username.clone(),
        realm: c.realm.clone(),
        nonce: c.nonce.clone(),
        uri: c.uri.clone(),
        response: c.response.clone(),
        algorithm: opt(&c.algorithm),
        cnonce: opt(&c.cnonce),
        qop: opt(&c.qop),
        nc: opt(&c.nc),
        opaque: opt(&c.opaque),
    }
}

pub(crate) fn challenge(c: Challenge) -> PbChallenge {
    PbChallenge {
        realm: c.realm,
        nonce: c.nonce,
        stale: c.stale,
        algorithm: c.algorithm.as_str().to_owned(),
        qop: c.qop.unwrap_or_default(),
        opaque: c.opaque.unwrap_or_default(),
    }
}

pub(crate) fn user(u: &crate::users::User) -> PbUser {
    PbUser {
        name: u.name.clone(),
        context: u.context.clone(),
        callerid_name: u.callerid_name.clone(),
        callerid_num: u.callerid_num.clone(),
        call_limit: u.call_limit.unwrap_or(0),
        guest: false,
        anchor_media: u.anchor_media,
        codecs: match u.codecs.as_deref() {
            None => Vec::new(),
            Some([]) => vec!["none".to_owned()],
            Some(list) => list.to_vec(),
        },
        no_rfc2833: !u.rfc2833,
        moh_interpret: u.moh_interpret.clone(),
        moh_suggest: u.moh_suggest.clone(),
        mailboxes: u.phone.mailboxes.clone(),
        vmexten: u.phone.vmexten(),
        subscribe_forbidden: u.phone.allow_subscribe == Some(false),
        buggy_mwi: u.phone.buggy_mwi == Some(true),
        transfer_forbidden: u.phone.allow_transfer == Some(false),
        call_group: u.phone.call_group,
        pickup_group: u.phone.pickup_group,
    }
}

/// A user's message-waiting settings, when it has mailboxes.
fn mwi_of(u: &crate::users::User) -> Option<asterism_proto::registrar::Mwi> {
    (!u.phone.mailboxes.is_empty()).then(|| asterism_proto::registrar::Mwi {
        mailboxes: u.phone.mailboxes.clone(),
        vmexten: u.phone.vmexten(),
        buggy_mwi: u.phone.buggy_mwi == Some(true),
    })
}

fn outcome(o: Outcome) -> RegisterResponse {
    RegisterResponse {
        outcome: o as i32,
        ..Default::default()
    }
}

/// The source address of a request, as the edge saw it.
pub(crate) fn source_ip(flow: Option<&asterism_proto::common::Flow>) -> Option<IpAddr> {
    flow?.source_ip.parse().ok()
}

impl Registrar {
    /// Count a failure of `user` from `ip` towards a ban; the ban's seconds
    /// if it made one. Counting is best effort: a store that cannot count
    /// now does not turn a 403 into a 503.
    pub(crate) async fn failed(&self, user: &str, ip: Option<IpAddr>, why: AuthFailure) -> u32 {
        let (Some(ip), true) = (ip, self.bans.enabled()) else {
            return 0;
        };
        tracing::debug!(%ip, %user, reason = ?why, "authentication failure");
        // Failures are counted per user only for users sip.conf has: a
        // name made up by a stranger must not become a key in the store.
        let user = if self.auth.directory.get(user).is_some() {
            user
        } else {
            ""
        };
        match self
            .store
            .auth_failure(&ip.to_string(), user, &self.bans)
            .await
        {
            Ok(Some(secs)) => {
                tracing::warn!(%ip, secs, "source banned after repeated authentication failures");
                secs as u32
            }
            Ok(None) => 0,
            Err(e) => {
                tracing::warn!(error = %e, "authentication failure not counted");
                0
            }
        }
    }

    async fn forbidden(
        &self,
        user: &str,
        ip: Option<IpAddr>,
        why: AuthFailure,
    ) -> RegisterResponse {
        RegisterResponse {
            failure: why as i32,
            ban_secs: self.failed(user, ip, why).await,
            ..outcome(Outcome::Forbidden)
        }
    }

    pub async fn register(&self, req: &RegisterRequest) -> Result<RegisterResponse, StoreError> {
        let now = now_ms();
        let ip = source_ip(req.flow.as_ref());
        let dir = &self.auth.directory;
        // alwaysauthreject=no: Asterisk tells an unknown peer so (404).
        if !dir.always_auth_reject && dir.get(&req.aor).is_none() {
            return Ok(outcome(Outcome::NotFound));
        }
        let creds = req.credentials.as_ref().map(credentials);
        let attempt = Attempt {
            method: &req.method,
            request_uri: &req.request_uri,
            claimed_user: &req.aor,
        };
        let (u, replay_key) = match self.auth.check(attempt, creds.as_ref(), now / 1000) {
            AuthResult::Ok { user, replay_key } => (user, replay_key),
            AuthResult::Challenge(c) => {
                return Ok(RegisterResponse {
                    outcome: Outcome::Challenge as i32,
                    challenge: Some(challenge(c)),
                    ..Default::default()
                })
            }
            AuthResult::Forbidden(why) => return Ok(self.forbidden(&req.aor, ip, why).await),
        };
        if !u.dynamic() {
            return Ok(self.forbidden(&req.aor, ip, AuthFailure::NotDynamic).await);
        }
        if !u.acl.is_empty() && !ip.is_some_and(|ip| u.acl.permits(ip)) {
            return Ok(self.forbidden(&req.aor, ip, AuthFailure::Acl).await);
        }
        if req.wildcard && (req.expires != Some(0) || !req.contacts.is_empty()) {
            let mut r = outcome(Outcome::BadRequest);
            r.reason = "Contact: * needs Expires: 0 and no other contact".into();
            return Ok(r);
        }
        let max_contacts = u.max_contacts.unwrap_or(self.max_contacts);
        let mut update = Update {
            call_id: req.call_id.clone(),
            cseq: req.cseq,
            replay_key: Some(replay_key),
            replay_ttl_secs: self.auth.nonces.lifetime().as_secs(),
            remove_all: req.wildcard,
            max_contacts,
            source_ip: ip.filter(|_| self.bans.enabled()).map(|ip| ip.to_string()),
            changes: Vec::with_capacity(req.contacts.len()),
            now_ms: now,
        };
        let mut granted_first = None;
        for c in &req.contacts {
            let secs = match self.policy.grant(c.expires, req.expires) {
                Granted::TooBrief => {
                    let mut r = outcome(Outcome::IntervalTooBrief);
                    r.min_expires = self.policy.min;
                    return Ok(r);
                }
                Granted::Remove => 0,
                Granted::For(s) => s,
            };
            granted_first.get_or_insert(secs);
            update.changes.push(Change {
                contact: c.uri.clone(),
                expires_secs: secs,
                record: Binding {
                    aor: req.aor.clone(),
                    contact: c.uri.clone(),
                    expires_in: secs,
                    flow: req.flow.clone(),
                    call_id: req.call_id.clone(),
                    cseq: req.cseq,
                    user_agent: req.user_agent.clone(),
                    q_milli: c.q_milli.unwrap_or(1000),
                    expires_at: (now / 1000) as i64 + i64::from(secs),
                    edge_gone: false,
                },
            });
        }
        Ok(match self.store.update(&req.aor, &update).await? {
            UpdateOutcome::Applied(bindings) => RegisterResponse {
                outcome: Outcome::Ok as i32,
                expires: granted_first
                    .or_else(|| bindings.iter().map(|b| b.expires_in).max())
                    .unwrap_or(0),
                bindings,
                mwi: dir.get(&req.aor).and_then(mwi_of),
                ..Default::default()
            },
            UpdateOutcome::OutOfOrder => {
                let mut r = outcome(Outcome::OutOfOrder);
                r.reason = "CSeq not above the last one for this Call-ID".into();
                r
            }
            // A replayed nonce use: challenge again, as for a stale nonce.
            UpdateOutcome::Replay => RegisterResponse {
                outcome: Outcome::Challenge as i32,
                challenge: Some(challenge(self.auth.challenge(true, now / 1000))),
                failure: AuthFailure::Replay as i32,
                ban_secs: self.failed(&req.aor, ip, AuthFailure::Replay).await,
                ..Default::default()
            },
            UpdateOutcome::TooManyContacts => RegisterResponse {
                reason: format!("Forbidden (max_contacts {max_contacts} reached)"),
                ..outcome(Outcome::Forbidden)
            },
            UpdateOutcome::Banned(secs) => RegisterResponse {
                failure: AuthFailure::Banned as i32,
                ban_secs: secs as u32,
                ..outcome(Outcome::Forbidden)
            },
        })
    }

    pub async fn lookup(&self, aor: &str) -> Result<LookupResponse, StoreError> {
        let Some(u) = self.auth.directory.get(aor) else {
            return Ok(LookupResponse::default());
        };
        if let Some(t) = &u.trunk {
            return Ok(LookupResponse {
                known: true,
                user: Some(user(u)),
                bindings: Vec::new(),
                trunk: Some(crate::trunks::pb(u, t)),
            });
        }
        let mut bindings = self.store.lookup(aor, now_ms()).await?;
        self.mark_gone_edges(&mut bindings).await?;
        Ok(LookupResponse {
            known: true,
            user: Some(user(u)),
            bindings,
            trunk: None,
        })
    }

    /// Flag bindings whose owning edge stopped reporting alive: the phone's
    /// flow (NAT pinhole, TCP connection) died with it.
    async fn mark_gone_edges(&self, bindings: &mut [Binding]) -> Result<(), StoreError> {
        let edge_of = |b: &Binding| {
            b.flow
                .as_ref()
                .map(|f| f.edge_id.clone())
                .unwrap_or_default()
        };
        let mut ids: Vec<String> = bindings
            .iter()
            .map(edge_of)
            .filter(|id| !id.is_empty())
            .collect();
        ids.sort();
        ids.dedup();
        if ids.is_empty() {
            return Ok(());
        }
        let alive = self.store.edges_alive(&ids).await?;
        for b in bindings.iter_mut() {
            let id = edge_of(b);
            if let Ok(i) = ids.binary_search(&id) {
                b.edge_gone = !alive.get(i).copied().unwrap_or(true);
            }
        }
        Ok(())
    }
}
