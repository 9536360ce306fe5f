//! INVITE (and other non-REGISTER) authentication: the digest as for a
//! REGISTER, the peer's `permit`/`deny`, the nonce used once by this very
//! request (a captured INVITE replayed from elsewhere is challenged), the
//! source's ban, and guests when sip.conf allows them (`allowguest=yes`).

use crate::auth::{Attempt, AuthResult};
use crate::register::{challenge, credentials, source_ip, user, Registrar};
use crate::store::{NonceUse, StoreError};
use asterism_proto::common::User as PbUser;
use asterism_proto::registrar::{AuthFailure, AuthenticateRequest, AuthenticateResponse, Outcome};

fn refused(o: Outcome, why: AuthFailure, ban_secs: u32) -> AuthenticateResponse {
    AuthenticateResponse {
        outcome: o as i32,
        failure: why as i32,
        ban_secs,
        ..Default::default()
    }
}

impl Registrar {
    pub async fn authenticate(
        &self,
        req: &AuthenticateRequest,
    ) -> Result<AuthenticateResponse, StoreError> {
        let now = crate::clock::now_ms() / 1000;
        let ip = source_ip(req.flow.as_ref());
        let dir = &self.auth.directory;
        // A trunk's INVITE, known by its source: with insecure=invite it is
        // not challenged (chan_sip); permit/deny still apply.
        let source = req.flow.as_ref().and_then(|f| {
            let ip: std::net::IpAddr = f.source_ip.parse().ok()?;
            Some(std::net::SocketAddr::new(
                ip,
                u16::try_from(f.source_port).ok()?,
            ))
        });
        let trunk = source.and_then(|a| dir.trunk_from(a));
        if let Some(t) = trunk.filter(|t| {
            req.method == "INVITE" && t.trunk.as_ref().is_some_and(|k| k.insecure_invite)
        }) {
            if !t.acl.is_empty() && !ip.is_some_and(|ip| t.acl.permits(ip)) {
                let ban = self.failed(&t.name, ip, AuthFailure::Acl).await;
                return Ok(refused(Outcome::Forbidden, AuthFailure::Acl, ban));
            }
            tracing::debug!(trunk = %t.name, "INVITE from a trunk's address: not challenged");
            return Ok(AuthenticateResponse {
                outcome: Outcome::Ok as i32,
                user: Some(user(t)),
                ..Default::default()
            });
        }
        // allowguest=yes: someone sip.conf does not know calls in, unasked.
        if dir.allow_guest && dir.get(&req.from_user).is_none() {
            return Ok(AuthenticateResponse {
                outcome: Outcome::Ok as i32,
                user: Some(PbUser {
                    context: dir.default_context.clone(),
                    callerid_num: req.from_user.clone(),
                    guest: true,
                    ..Default::default()
                }),
                ..Default::default()
            });
        }
        let creds = req.credentials.as_ref().map(credentials);
        let attempt = Attempt {
            method: &req.method,
            request_uri: &req.request_uri,
            claimed_user: &req.from_user,
        };
        let (u, replay_key) = match self.auth.check(attempt, creds.as_ref(), now) {
            AuthResult::Ok { user, replay_key } => (user, replay_key),
            AuthResult::Challenge(c) => {
                return Ok(AuthenticateResponse {
                    outcome: Outcome::Challenge as i32,
                    challenge: Some(challenge(c)),
                    ..Default::default()
                })
            }
            AuthResult::Forbidden(why) => {
                let ban = self.failed(&req.from_user, ip, why).await;
                return Ok(refused(Outcome::Forbidden, why, ban));
            }
        };
        if !u.acl.is_empty() && !ip.is_some_and(|ip| u.acl.permits(ip)) {
            let ban = self.failed(&u.name, ip, AuthFailure::Acl).await;
            return Ok(refused(Outcome::Forbidden, AuthFailure::Acl, ban));
        }
        // The very same request again (a retry on another replica) is no
        // replay; the same nonce from another source, another transaction
        // or another call is.
        let owner = crate::store::request_owner(req);
        let ttl = self.auth.nonces.lifetime().as_secs();
        let banned_ip = ip.filter(|_| self.bans.enabled()).map(|ip| ip.to_string());
        match self
            .store
            .use_nonce(&u.name, &replay_key, &owner, ttl, banned_ip.as_deref())
            .await?
        {
            NonceUse::Accepted => Ok(AuthenticateResponse {
                outcome: Outcome::Ok as i32,
                user: Some(user(u)),
                ..Default::default()
            }),
            NonceUse::Replay => {
                let ban = self.failed(&u.name, ip, AuthFailure::Replay).await;
                Ok(AuthenticateResponse {
                    challenge: Some(challenge(self.auth.challenge(true, now))),
                    ..refused(Outcome::Challenge, AuthFailure::Replay, ban)
                })
            }
            NonceUse::Banned(secs) => Ok(refused(
                Outcome::Forbidden,
                AuthFailure::Banned,
                secs as u32,
            )),
        }
    }
}
