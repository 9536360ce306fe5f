//! The registrar's domain logic behind the gRPC calls: authenticate, apply
//! the expiry policy, update the store, and say what the edge must answer.

use crate::auth::{Attempt, AuthResult, Authenticator};
use crate::clock::now_ms;
use crate::expiry::{ExpiryPolicy, Granted};
use crate::store::{BindingStore, Change, StoreError, Update, UpdateOutcome};
use asterism_proto::common::User as PbUser;
use asterism_proto::registrar::{
    AuthFailure, AuthenticateRequest, AuthenticateResponse, Binding, Challenge as PbChallenge,
    DigestCredentials, LookupResponse, Outcome, RegisterRequest, RegisterResponse,
};
use asterism_sip::digest::{Challenge, Credentials};
use std::sync::Arc;

pub struct Registrar {
    pub auth: Authenticator,
    pub store: Arc<dyn BindingStore>,
    pub policy: ExpiryPolicy,
}

fn credentials(c: &DigestCredentials) -> Credentials {
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

fn challenge(c: Challenge) -> PbChallenge {
    PbChallenge {
        realm: c.realm,
        nonce: c.nonce,
        stale: c.stale,
        algorithm: c.algorithm.as_str().to_owned(),
        qop: c.qop.unwrap_or_default(),
        opaque: c.opaque.unwrap_or_default(),
    }
}

fn user(u: &crate::users::User) -> PbUser {
    PbUser {
        name: u.name.clone(),
        context: u.context.clone(),
        callerid_name: u.callerid_name.clone(),
        callerid_num: u.callerid_num.clone(),
    }
}

fn outcome(o: Outcome) -> RegisterResponse {
    RegisterResponse {
        outcome: o as i32,
        ..Default::default()
    }
}

impl Registrar {
    fn refused(&self, r: AuthResult<'_>) -> RegisterResponse {
        match r {
            AuthResult::Challenge(c) => RegisterResponse {
                outcome: Outcome::Challenge as i32,
                challenge: Some(challenge(c)),
                ..Default::default()
            },
            AuthResult::Forbidden(why) => RegisterResponse {
                failure: why as i32,
                ..outcome(Outcome::Forbidden)
            },
            AuthResult::Ok { .. } => outcome(Outcome::Unspecified),
        }
    }

    pub async fn register(&self, req: &RegisterRequest) -> Result<RegisterResponse, StoreError> {
        let now = now_ms();
        let creds = req.credentials.as_ref().map(credentials);
        let attempt = Attempt {
            method: &req.method,
            request_uri: &req.request_uri,
            claimed_user: &req.aor,
        };
        let replay_key = match self.auth.check(attempt, creds.as_ref(), now / 1000) {
            AuthResult::Ok { replay_key, .. } => replay_key,
            other => return Ok(self.refused(other)),
        };
        let mut update = Update {
            call_id: req.call_id.clone(),
            cseq: req.cseq,
            replay_key: Some(replay_key),
            replay_ttl_secs: self.auth.nonces.lifetime().as_secs(),
            remove_all: req.wildcard,
            changes: Vec::with_capacity(req.contacts.len()),
            now_ms: now,
        };
        if req.wildcard && (req.expires != Some(0) || !req.contacts.is_empty()) {
            let mut r = outcome(Outcome::BadRequest);
            r.reason = "Contact: * needs Expires: 0 and no other contact".into();
            return Ok(r);
        }
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
                ..Default::default()
            },
            UpdateOutcome::OutOfOrder => {
                let mut r = outcome(Outcome::OutOfOrder);
                r.reason = "CSeq not above the last one for this Call-ID".into();
                r
            }
            // A replayed nonce use: challenge again, as for a stale nonce.
            UpdateOutcome::Replay => RegisterResponse {
                failure: AuthFailure::Replay as i32,
                ..self.refused(AuthResult::Challenge(self.auth.challenge(true, now / 1000)))
            },
        })
    }

    pub async fn authenticate(
        &self,
        req: &AuthenticateRequest,
    ) -> Result<AuthenticateResponse, StoreError> {
        let now = now_ms() / 1000;
        let creds = req.credentials.as_ref().map(credentials);
        let attempt = Attempt {
            method: &req.method,
            request_uri: &req.request_uri,
            claimed_user: &req.from_user,
        };
        match self.auth.check(attempt, creds.as_ref(), now) {
            AuthResult::Ok {
                user: u,
                replay_key,
            } => {
                let pb = user(u);
                let ttl = self.auth.nonces.lifetime().as_secs();
                // The very same request again (a retry on another replica)
                // is no replay; the same nonce from another source, another
                // transaction or another call is.
                let owner = crate::store::request_owner(req);
                if !self
                    .store
                    .use_nonce(&u.name, &replay_key, &owner, ttl)
                    .await?
                {
                    return Ok(AuthenticateResponse {
                        outcome: Outcome::Challenge as i32,
                        challenge: Some(challenge(self.auth.challenge(true, now))),
                        failure: AuthFailure::Replay as i32,
                        user: None,
                    });
                }
                Ok(AuthenticateResponse {
                    outcome: Outcome::Ok as i32,
                    user: Some(pb),
                    ..Default::default()
                })
            }
            AuthResult::Challenge(c) => Ok(AuthenticateResponse {
                outcome: Outcome::Challenge as i32,
                challenge: Some(challenge(c)),
                ..Default::default()
            }),
            AuthResult::Forbidden(why) => Ok(AuthenticateResponse {
                outcome: Outcome::Forbidden as i32,
                failure: why as i32,
                ..Default::default()
            }),
        }
    }

    pub async fn lookup(&self, aor: &str) -> Result<LookupResponse, StoreError> {
        let Some(u) = self.auth.directory.get(aor) else {
            return Ok(LookupResponse::default());
        };
        let mut bindings = self.store.lookup(aor, now_ms()).await?;
        self.mark_gone_edges(&mut bindings).await?;
        Ok(LookupResponse {
            known: true,
            user: Some(user(u)),
            bindings,
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
