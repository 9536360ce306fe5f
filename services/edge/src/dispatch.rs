//! Which handler answers which new out-of-dialog request (RFC 3261 §8.2.1):
//! REGISTER goes to the registrar, OPTIONS is answered here, an INVITE
//! starts a call task, a SUBSCRIBE a subscription task
//! ([`crate::mwi`]), requests for unknown dialogs get 481, a REFER outside
//! a dialog 603 "Declined (No dialog)" as in chan_sip, other methods we
//! know but do not take outside a dialog 405 and unknown ones 501, with Allow.

use crate::reply::{Replier, ACCEPT};
use crate::{register, trace, Ctx};
use asterism_sip::message::Response;
use asterism_sip::transport::Flow;
use asterism_sip::validate::Checked;
use asterism_sip::{HeaderName, Method, Request};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub enum Handled {
    Now(Response),
    Later(Pin<Box<dyn Future<Output = Response> + Send>>),
    /// A new call: its task takes over the INVITE.
    Call(Box<crate::call::Incoming>),
    /// A new subscription: its task answers the SUBSCRIBE.
    Subscribe(Box<crate::mwi::subscription::Incoming>),
    /// Nothing to answer (an ACK without a transaction).
    Absorbed,
}

pub fn handle(
    ctx: &Arc<Ctx>,
    flow: Flow,
    req: Request,
    checked: Checked,
    replier: Replier,
) -> Handled {
    match &req.method {
        m if *m == Method::REGISTER => {
            let ctx = ctx.clone();
            // A REGISTER is a short trace of its own, shared with the
            // challenged REGISTER it answers.
            let span = trace::server_span("edge.register", &req, &checked, &flow);
            ctx.joins.adopt(&checked.call_id, &span);
            Handled::Later(Box::pin(tracing::Instrument::instrument(
                async move {
                    let r = register::handle(&ctx, flow, &req, &checked, &replier).await;
                    let span = tracing::Span::current();
                    trace::record_status(&span, r.code);
                    if trace::is_challenge(r.code) {
                        ctx.joins.remember(&checked.call_id, &span);
                    }
                    r
                },
                span,
            )))
        }
        m if *m == Method::OPTIONS => {
            let mut r = replier.with_allow(200);
            r.headers.push(HeaderName::Accept, ACCEPT);
            r.headers.push(HeaderName::Supported, "");
            Handled::Now(r)
        }
        m if *m == Method::ACK => Handled::Absorbed,
        m if *m == Method::INVITE && checked.to.tag().is_none() => {
            Handled::Call(Box::new(crate::call::Incoming {
                request: req,
                checked,
                replier,
            }))
        }
        m if *m == Method::SUBSCRIBE && checked.to.tag().is_none() => {
            Handled::Subscribe(Box::new(crate::mwi::subscription::Incoming {
                request: req,
                checked,
                replier,
            }))
        }
        // In-dialog requests for a dialog we do not know, and CANCELs of
        // INVITEs we do not have (RFC 3261 §12.2.2, §9.2).
        _ if checked.to.tag().is_some() => Handled::Now(replier.reply(481)),
        // A transfer needs a call to transfer: chan_sip's answer.
        m if *m == Method::REFER => Handled::Now(replier.reply_with(603, "Declined (No dialog)")),
        m if *m == Method::CANCEL || *m == Method::BYE => Handled::Now(replier.reply(481)),
        Method::Extension(_) => Handled::Now(replier.with_allow(501)),
        Method::Known(_) => Handled::Now(replier.with_allow(405)),
    }
}
