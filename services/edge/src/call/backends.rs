//! Everything the edge asks of the other services, behind one facade: the
//! registrar (REGISTER, authenticate, call-limit slots, lookups), the router (the
//! dialplan stream) and media (sessions, prompts, echo). Each request has a
//! deadline and one retry on another replica (see [`crate::retry`]); every
//! failure is one [`BackendError`], turned into a SIP answer in one place
//! ([`BackendError::response`]). The call machine only sees this trait, so
//! its tests run against the in-memory fake (`fake.rs`), no sockets.

use crate::reply::Replier;
use asterism_proto::common::User;
use asterism_proto::registrar::{AuthenticateRequest, RegisterRequest, RegisterResponse};
use asterism_proto::router::{CallEvent, CallStart, Step};
use asterism_sip::message::Response;
use asterism_sip::transport::Flow;
use asterism_sip::HeaderName;
use std::future::Future;
use std::pin::Pin;
use tokio::sync::mpsc;

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
pub type BoxStream<T> = Pin<Box<dyn futures::Stream<Item = T> + Send>>;

/// Why a backend gave no useful answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendError {
    /// No replica answered in time, or one said it cannot serve (Redis
    /// down): the phone should try again later.
    Unavailable,
    /// Media: no codec in common with the offer.
    NoCodec(String),
    /// Answered, but the request failed (a missing session, say).
    Failed(String),
}

impl BackendError {
    /// The SIP answer to the caller's INVITE this failure gives.
    pub fn response(&self, replier: &Replier, retry_after: u32) -> Response {
        match self {
            BackendError::Unavailable => {
                let mut r = replier.reply(503);
                r.headers
                    .push(HeaderName::RetryAfter, retry_after.to_string());
                r
            }
            BackendError::NoCodec(_) => replier.reply(488),
            BackendError::Failed(_) => replier.reply(500),
        }
    }

    pub fn text(&self) -> &str {
        match self {
            BackendError::Unavailable => "backend unavailable",
            BackendError::NoCodec(s) | BackendError::Failed(s) => s,
        }
    }
}

/// What the registrar said of an INVITE's credentials.
#[derive(Debug, Clone)]
pub enum AuthAnswer {
    Ok(Box<User>),
    /// Challenge with this `WWW-Authenticate` value.
    Challenge(String),
    /// Wrong credentials, unknown user, banned, not allowed: 403.
    Refused,
}

/// One INVITE to authenticate (the facade logs failures as Asterisk's
/// security log does and marks the connection authenticated).
#[derive(Debug, Clone)]
pub struct AuthAsk {
    pub request: AuthenticateRequest,
    /// The INVITE's From header, for the security log.
    pub from: String,
    pub flow: Flow,
}

/// A held call-limit slot, given back when dropped.
pub struct Slot(Option<Box<dyn FnOnce() + Send + Sync>>);

impl Slot {
    pub fn new(release: impl FnOnce() + Send + Sync + 'static) -> Slot {
        Slot(Some(Box::new(release)))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(release) = self.0.take() {
            release();
        }
    }
}

/// Why no slot was had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotRefused {
    /// The user has its `call-limit` calls already.
    Full,
    Backend(BackendError),
}

/// Where one contact of a Dial target is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// The Request-URI (the binding's Contact).
    pub uri: String,
    /// Where the INVITE goes: the phone, or the edge holding its flow.
    pub flow: Flow,
    /// A Route through that other edge, when there is one.
    pub route: Option<String>,
    /// Its Contact names another address than its REGISTER came from:
    /// behind NAT, so its media is anchored.
    pub behind_nat: bool,
}

/// A Dial target, looked up.
pub struct Resolved {
    pub target: String,
    pub contacts: Vec<Contact>,
    /// sip.conf wants its media anchored (`directmedia=no`, `nat=comedia`).
    pub anchor: bool,
    /// Its codecs and DTMF mode.
    pub prefs: MediaPrefs,
    /// A trunk (static `host=`): its From and whether it can sign.
    pub trunk: Option<TrunkFrom>,
    /// Its call-limit slot, when it has a limit.
    pub slot: Option<Slot>,
    /// Its sip.conf user (caller ID, context), when it is one.
    pub user: Option<User>,
}

/// What a trunk's sip.conf section says of the INVITEs sent to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrunkFrom {
    /// `fromuser`: the From user instead of the caller's number.
    pub fromuser: String,
    /// `fromdomain`: the From host instead of ours.
    pub fromdomain: String,
    /// It has credentials: its 401/407 are answered (`Backends::sign`).
    pub can_sign: bool,
}

/// A media session on some instance.
#[derive(Clone, Default)]
pub struct MediaSession {
    pub id: String,
    /// The instance it lives on (none in tests).
    pub instance: Option<std::sync::Arc<crate::placement::Instance>>,
}

/// What a side's sip.conf says of its media: `allow` ("PCMU"/"PCMA" in
/// order; empty: any, `["none"]`: neither) and `dtmfmode` (not RFC 4733).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaPrefs {
    pub codecs: Vec<String>,
    pub no_rfc2833: bool,
    /// sip.conf `mohinterpret` (empty: `default`) and `mohsuggest`.
    pub moh_interpret: String,
    pub moh_suggest: String,
}

impl MediaPrefs {
    pub fn of(u: &User) -> MediaPrefs {
        MediaPrefs {
            codecs: u.codecs.clone(),
            no_rfc2833: u.no_rfc2833,
            moh_interpret: u.moh_interpret.clone(),
            moh_suggest: u.moh_suggest.clone(),
        }
    }

    /// Whether it restricts what the relay may send it (codecs, events).
    pub fn restricts(&self) -> bool {
        !self.codecs.is_empty() || self.no_rfc2833
    }

    /// The music on hold class a phone with these settings hears when
    /// `holder` holds it, as chan_sip picks it: the holder's `mohsuggest`,
    /// else its own `mohinterpret`; `passthrough`: none (empty).
    pub fn hold_music(&self, holder: &MediaPrefs) -> String {
        if self.moh_interpret.eq_ignore_ascii_case("passthrough") {
            return String::new();
        }
        match (holder.moh_suggest.as_str(), self.moh_interpret.as_str()) {
            ("", "") => "default".to_owned(),
            ("", own) => own.to_owned(),
            (suggested, _) => suggested.to_owned(),
        }
    }
}

/// A media session (or relay) to open for a call.
#[derive(Debug, Clone, Default)]
pub struct MediaAsk {
    pub call_id: String,
    /// The caller's SDP offer.
    pub offer: String,
    /// Where the caller reached us (the SDP address without an advertised one).
    pub host: String,
    pub caller: MediaPrefs,
    /// A relay's callee side.
    pub callee: MediaPrefs,
    /// A relay taking over the caller's session (a Dial after Answer or
    /// Playback): the caller keeps the SDP it has.
    pub from: Option<MediaSession>,
}

impl std::fmt::Debug for MediaSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MediaSession({})", self.id)
    }
}

/// A relay's SDP: our answer to the caller, our offer to the callee(s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelaySdp {
    pub caller_answer: String,
    pub callee_offer: String,
}

/// How an echo ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EchoEnd {
    /// `#` or another digit ended it.
    Digit(String),
    /// No RTP from the caller for a while.
    RtpTimeout,
    Closed,
}

/// The router's side of a call's dialplan: its steps, and where results go.
pub struct Dialplan {
    pub steps: Pin<Box<dyn futures::Stream<Item = Result<Step, tonic::Status>> + Send>>,
    pub results: Results,
}

/// Where a call's step results go: a stream of its own, or its lane.
pub enum Results {
    Stream(mpsc::Sender<CallEvent>),
    Lane(crate::router_lanes::OnLane),
}

impl Results {
    /// Send a step's result; false when the router can no longer be reached.
    pub async fn send(&self, event: CallEvent) -> bool {
        match self {
            Results::Stream(tx) => tx.send(event).await.is_ok(),
            Results::Lane(call) => call.send(event).await,
        }
    }
}

pub trait Backends: Send + Sync + 'static {
    /// A REGISTER, as the registrar sees it (the edge's `register` module
    /// turns the answer into the response).
    fn register(&self, req: RegisterRequest) -> BoxFuture<Result<RegisterResponse, BackendError>>;
    fn authenticate(&self, ask: AuthAsk) -> BoxFuture<Result<AuthAnswer, BackendError>>;
    /// One of `user`'s `limit` slots, for call `call_id`.
    fn acquire_slot(
        &self,
        user: &str,
        limit: u32,
        call_id: &str,
    ) -> BoxFuture<Result<Slot, SlotRefused>>;
    /// The Dial targets' contacts (and slots); unknown, unregistered or
    /// limited-out targets have none.
    fn resolve(&self, targets: Vec<String>, call_id: &str) -> BoxFuture<Vec<Resolved>>;
    /// The Authorization answering trunk `peer`'s `challenge` for `method`
    /// on `uri` (the registrar holds the secrets).
    fn sign(
        &self,
        peer: &str,
        method: &str,
        uri: &str,
        challenge: &str,
    ) -> BoxFuture<Result<String, BackendError>>;
    fn execute(&self, start: CallStart) -> BoxFuture<Result<Dialplan, BackendError>>;
    fn open_media(&self, ask: MediaAsk) -> BoxFuture<Result<(MediaSession, String), BackendError>>;
    /// Anchor the call's media: a relay from the caller's offer.
    fn open_relay(
        &self,
        ask: MediaAsk,
    ) -> BoxFuture<Result<(MediaSession, RelaySdp), BackendError>>;
    /// Leg `side`'s new SDP for the relay; our answer when it is an offer.
    fn update_relay(
        &self,
        s: &MediaSession,
        side: super::bridge::Side,
        sdp: String,
        offer: bool,
    ) -> BoxFuture<Result<String, BackendError>>;
    /// Music on hold `class` to leg `side` of a relay instead of the other
    /// side's audio (None: the other side again); whether it plays.
    fn relay_music(
        &self,
        s: &MediaSession,
        side: super::bridge::Side,
        class: Option<String>,
        seq: u64,
    ) -> BoxFuture<Result<bool, BackendError>>;
    /// The relay's callee becomes its caller (a transfer by the caller).
    fn swap_legs(&self, s: &MediaSession) -> BoxFuture<Result<(), BackendError>>;
    /// The RFC 4733 digits each leg of relay `s` sends, as they end.
    fn dtmf(&self, s: &MediaSession) -> BoxStream<(super::bridge::Side, char)>;
    /// Whether `exten` is an extension of `context` for `caller`, and
    /// whether more digits could make one.
    fn match_extension(
        &self,
        context: &str,
        exten: &str,
        caller: &str,
    ) -> BoxFuture<Result<(bool, bool), BackendError>>;
    /// Prompts to leg `side` of a relay instead of the other side's audio;
    /// with `wait` the answer comes once they are over.
    fn relay_prompts(
        &self,
        s: &MediaSession,
        side: super::bridge::Side,
        files: Vec<String>,
        seq: u64,
        wait: bool,
    ) -> BoxFuture<Result<bool, BackendError>>;
    /// Play `files` to the end (missing files are logged and skipped).
    fn play(&self, s: &MediaSession, files: Vec<String>) -> BoxFuture<Result<(), BackendError>>;
    fn echo(&self, s: &MediaSession) -> BoxFuture<Result<EchoEnd, BackendError>>;
    /// Resolves if the session's instance dies.
    fn media_lost(&self, s: &MediaSession) -> BoxFuture<()>;
    fn close_media(&self, s: MediaSession) -> BoxFuture<()>;
}
