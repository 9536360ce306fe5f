//! INVITE authentication as Asterisk does it: without credentials a 401
//! challenge, with wrong ones 403; the registrar checks the digest and says
//! who the caller is (context and caller ID from sip.conf).

use super::Call;
use asterism_proto::common::User;
use asterism_proto::registrar::{AuthFailure, AuthenticateRequest, Outcome};
use asterism_sip::digest::parse_authorization;
use asterism_sip::message::Response;
use asterism_sip::HeaderName;

impl Call {
    pub(super) async fn authenticate(&mut self) -> Result<User, Response> {
        let h = &self.a.invite.headers;
        let creds = h
            .get_all(&HeaderName::Authorization)
            .chain(h.get_all(&HeaderName::ProxyAuthorization))
            .find_map(|v| parse_authorization(v).ok().flatten())
            .map(crate::register::pb_credentials);
        let req = AuthenticateRequest {
            method: "INVITE".into(),
            request_uri: self.a.invite.uri.clone(),
            from_user: self.a.checked.from.uri.user.clone().unwrap_or_default(),
            credentials: creds,
            flow: Some(self.ctx.pb_flow(self.a.flow)),
            call_id: self.a.checked.call_id.clone(),
            cseq: self.a.checked.cseq.seq,
            branch: self.a.checked.vias[0]
                .branch()
                .unwrap_or_default()
                .to_owned(),
        };
        let ctx = &self.ctx;
        let attempt = || {
            let mut client = ctx.registrar.clone();
            let mut request = tonic::Request::new(req.clone());
            request.set_timeout(ctx.cfg.rpc_timeout);
            async move { client.authenticate(request).await }
        };
        let answer = match crate::retry::until_answered(ctx.cfg.rpc_timeout, attempt).await {
            Ok(a) => a.into_inner(),
            Err(status) => {
                tracing::warn!(code = ?status.code(), "registrar failed during INVITE authentication");
                return Err(self.ctx.unavailable(&self.a.replier));
            }
        };
        let failure = AuthFailure::try_from(answer.failure).unwrap_or(AuthFailure::None);
        if failure != AuthFailure::None || answer.ban_secs > 0 {
            let from = self
                .a
                .invite
                .headers
                .get(&HeaderName::From)
                .unwrap_or_default();
            let account = req.credentials.as_ref().map(|c| c.username.as_str());
            let account = account.unwrap_or(&req.from_user);
            self.ctx.auth_failed(
                crate::security::Attempt::Invite,
                failure,
                from,
                account,
                &self.a.flow,
                &self.a.checked.call_id,
                answer.ban_secs,
            );
        }
        match Outcome::try_from(answer.outcome).unwrap_or(Outcome::Unspecified) {
            Outcome::Ok => {
                let user = answer.user.ok_or_else(|| self.a.replier.reply(500))?;
                // A guest (allowguest=yes) proved nothing about its connection.
                if !user.guest {
                    self.ctx.transport.authenticated(&self.a.flow);
                }
                Ok(user)
            }
            Outcome::Challenge => {
                let mut r = self.a.replier.reply(401);
                if let Some(ch) = answer.challenge {
                    r.headers.push(
                        HeaderName::WwwAuthenticate,
                        crate::register::challenge_text(&ch),
                    );
                }
                Err(r)
            }
            _ => Err(self.a.replier.reply(403)),
        }
    }
}
