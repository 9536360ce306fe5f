//! In-memory [`Backends`] for the call machine's tests: a registrar that
//! knows one caller and a few Dial targets, a router that plays a scripted
//! dialplan step by step (recording the results it gets), and a media
//! service whose prompts and echo take a set time.

use crate::call::backends::*;
use asterism_proto::common::User;
use asterism_proto::router::{step, CallEvent, CallStart, Finished, Step, StepResult};
use asterism_sip::transport::{Flow, Kind};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use tokio_stream::wrappers::ReceiverStream;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// 401 without credentials, the caller with them.
    Digest,
    Refuse,
    Unavailable,
    /// Answers after this long (to race a CANCEL against).
    Slow(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Router {
    Ok,
    Unavailable,
    /// The stream breaks after this many steps were sent.
    DiesAfter(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    Ok,
    NoCodec,
    Unavailable,
}

pub struct Fake {
    pub auth: Auth,
    pub caller: User,
    /// Dial targets and their contacts.
    pub contacts: HashMap<String, Vec<Contact>>,
    /// call-limit of targets (and the caller), by name.
    pub limits: HashMap<String, u32>,
    pub plan: Vec<step::App>,
    pub router: Router,
    pub media: Media,
    pub play: Duration,
    pub echo: Option<(Duration, EchoEnd)>,
    /// What the router got, step by step.
    pub results: Arc<Mutex<Vec<StepResult>>>,
    /// Held call-limit slots, by user.
    pub held: Arc<Mutex<HashMap<String, u32>>>,
    pub closed: Arc<Mutex<Vec<String>>>,
    /// Notified: the media instance dies.
    pub lost: Arc<Notify>,
    /// Targets whose sip.conf anchors media.
    pub anchored: Vec<String>,
    /// TIMEOUT(absolute) on every step (Unix ms; 0: none).
    pub hangup_at_unix_ms: i64,
    /// What media sessions and relays were asked for.
    pub media_asks: Arc<Mutex<Vec<MediaAsk>>>,
    /// Per target: its codecs and DTMF mode.
    pub prefs: HashMap<String, MediaPrefs>,
    /// Targets that are trunks.
    pub trunks: HashMap<String, TrunkFrom>,
    /// Challenges signed: (peer, uri, challenge).
    pub signed: Arc<Mutex<Vec<(String, String, String)>>>,
    /// What relays were told: leg, SDP, offer.
    pub relay_updates: Arc<Mutex<Vec<(crate::call::bridge::Side, String, bool)>>>,
    /// Music asked for relay legs: leg, class (None: stop), order.
    pub music: Arc<Mutex<Vec<MusicAsk>>>,
    /// Prompts asked for relay legs: leg, files, waited for.
    pub prompts: Arc<Mutex<Vec<PromptAsk>>>,
    /// Digits the relay's legs send (a test feeds the sender).
    pub digits: DigitFeed,
    /// Every dialplan run asked for (a transferred callee's is the second).
    pub starts: Arc<Mutex<Vec<CallStart>>>,
    /// The dialplan of the runs after the first.
    pub then: Vec<step::App>,
    /// Dial targets' sip.conf users (caller ID, context).
    pub users: HashMap<String, User>,
    /// The dialplan's extensions, for MatchExtension: (context, exten).
    pub extensions: Vec<(String, String)>,
    /// The edge's table of ringing calls the task sees (None: no table).
    pub ringing: Option<crate::pickups::Ringing>,
}

/// Music asked for a relay leg: leg, class (None: stop), order.
pub type MusicAsk = (crate::call::bridge::Side, Option<String>, u64);

/// The relay's digits: the sender for the test, the stream for the call.
pub type DigitFeed = Arc<
    Mutex<(
        tokio::sync::mpsc::UnboundedSender<(crate::call::bridge::Side, char)>,
        Option<tokio::sync::mpsc::UnboundedReceiver<(crate::call::bridge::Side, char)>>,
    )>,
>;

/// Prompts asked for a relay leg: leg, files, waited for.
pub type PromptAsk = (crate::call::bridge::Side, Vec<String>, bool);

/// The fake relay's SDP: to the caller, to the callee, and its answer to
/// a leg's new offer.
pub const RELAY_TO_CALLER: &str = "v=0\r\ns=relay-caller\r\n";
pub const RELAY_TO_CALLEE: &str = "v=0\r\ns=relay-callee\r\n";
pub const RELAY_REANSWER: &str = "v=0\r\ns=relay-reanswer\r\n";

/// A phone at 127.0.0.1:`port` over UDP.
pub fn phone(user: &str, port: u16) -> Contact {
    Contact {
        uri: format!("sip:{user}@127.0.0.1:{port}"),
        flow: Flow {
            kind: Kind::Udp,
            remote: format!("127.0.0.1:{port}").parse().unwrap(),
        },
        route: None,
        behind_nat: false,
    }
}

impl Fake {
    /// bob calling; alice at one phone; the dialplan `plan`, then Finished.
    pub fn new(plan: Vec<step::App>) -> Fake {
        let mut contacts = HashMap::new();
        contacts.insert("alice".to_owned(), vec![phone("alice", 5070)]);
        Fake {
            auth: Auth::Digest,
            caller: User {
                name: "bob".into(),
                context: "default".into(),
                callerid_name: "Bob".into(),
                callerid_num: "62".into(),
                call_limit: 0,
                guest: false,
                anchor_media: false,
                ..Default::default()
            },
            contacts,
            limits: HashMap::new(),
            plan,
            router: Router::Ok,
            media: Media::Ok,
            play: Duration::from_secs(2),
            echo: None,
            results: Arc::default(),
            held: Arc::default(),
            closed: Arc::default(),
            lost: Arc::default(),
            anchored: Vec::new(),
            trunks: HashMap::new(),
            media_asks: Arc::default(),
            hangup_at_unix_ms: 0,
            prefs: HashMap::new(),
            signed: Arc::default(),
            relay_updates: Arc::default(),
            music: Arc::default(),
            prompts: Arc::default(),
            digits: {
                let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
                Arc::new(Mutex::new((tx, Some(rx))))
            },
            extensions: Vec::new(),
            ringing: None,
            users: HashMap::new(),
            starts: Arc::default(),
            then: Vec::new(),
        }
    }

    pub fn results(&self) -> Vec<StepResult> {
        self.results.lock().unwrap().clone()
    }

    pub fn held(&self, user: &str) -> u32 {
        self.held.lock().unwrap().get(user).copied().unwrap_or(0)
    }

    /// Session `id` and `sdp`, or the failure `self.media` asks for.
    fn media_result<T>(&self, id: &str, sdp: T) -> Result<(MediaSession, T), BackendError> {
        match self.media {
            Media::Ok => Ok((
                MediaSession {
                    id: id.into(),
                    instance: None,
                },
                sdp,
            )),
            Media::NoCodec => Err(BackendError::NoCodec("no codec in common".into())),
            Media::Unavailable => Err(BackendError::Unavailable),
        }
    }

    fn take_slot(&self, user: &str, limit: u32) -> Option<Slot> {
        let mut held = self.held.lock().unwrap();
        let n = held.entry(user.to_owned()).or_default();
        if *n >= limit {
            return None;
        }
        *n += 1;
        let (held, user) = (self.held.clone(), user.to_owned());
        Some(Slot::new(move || {
            if let Some(n) = held.lock().unwrap().get_mut(&user) {
                *n -= 1;
            }
        }))
    }
}

impl Backends for Fake {
    fn register(
        &self,
        _: asterism_proto::registrar::RegisterRequest,
    ) -> BoxFuture<Result<asterism_proto::registrar::RegisterResponse, BackendError>> {
        Box::pin(async { Err(BackendError::Failed("calls do not register".into())) })
    }

    fn authenticate(&self, ask: AuthAsk) -> BoxFuture<Result<AuthAnswer, BackendError>> {
        let (mode, user) = (self.auth, self.caller.clone());
        Box::pin(async move {
            match mode {
                Auth::Refuse => Ok(AuthAnswer::Refused),
                Auth::Unavailable => Err(BackendError::Unavailable),
                Auth::Slow(ms) => {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    Ok(AuthAnswer::Ok(Box::new(user)))
                }
                Auth::Digest if ask.request.credentials.is_none() => Ok(AuthAnswer::Challenge(
                    "Digest realm=\"asterisk\", nonce=\"abc\"".into(),
                )),
                Auth::Digest => Ok(AuthAnswer::Ok(Box::new(user))),
            }
        })
    }

    fn acquire_slot(
        &self,
        user: &str,
        limit: u32,
        _: &str,
    ) -> BoxFuture<Result<Slot, SlotRefused>> {
        let slot = self.take_slot(user, limit).ok_or(SlotRefused::Full);
        Box::pin(async move { slot })
    }

    fn resolve(&self, targets: Vec<String>, _: &str) -> BoxFuture<Vec<Resolved>> {
        let mut out = Vec::new();
        for target in targets {
            let contacts = self.contacts.get(&target).cloned().unwrap_or_default();
            let slot = match self.limits.get(&target) {
                Some(&limit) if !contacts.is_empty() => match self.take_slot(&target, limit) {
                    Some(s) => Some(s),
                    None => continue,
                },
                _ => None,
            };
            out.push(Resolved {
                anchor: self.anchored.contains(&target),
                prefs: self.prefs.get(&target).cloned().unwrap_or_default(),
                trunk: self.trunks.get(&target).cloned(),
                user: self.users.get(&target).cloned(),
                target,
                contacts,
                slot,
            });
        }
        Box::pin(async move { out })
    }

    fn sign(
        &self,
        peer: &str,
        _: &str,
        uri: &str,
        challenge: &str,
    ) -> BoxFuture<Result<String, BackendError>> {
        let record = (peer.to_owned(), uri.to_owned(), challenge.to_owned());
        self.signed.lock().unwrap().push(record);
        let r = if challenge.contains("nonce") {
            Ok(format!("Digest username=\"{peer}\", response=\"signed\""))
        } else {
            Err(BackendError::Failed("cannot answer".into()))
        };
        Box::pin(async move { r })
    }

    fn execute(&self, start: CallStart) -> BoxFuture<Result<Dialplan, BackendError>> {
        let first = {
            let mut starts = self.starts.lock().unwrap();
            starts.push(start);
            starts.len() == 1
        };
        if self.router == Router::Unavailable {
            return Box::pin(async { Err(BackendError::Unavailable) });
        }
        let dies_after = match self.router {
            Router::DiesAfter(n) => Some(n),
            _ => None,
        };
        let mut plan = if first {
            self.plan.clone()
        } else {
            self.then.clone()
        };
        plan.push(step::App::Finished(Finished::default()));
        let recorded = self.results.clone();
        let hangup_at_unix_ms = self.hangup_at_unix_ms;
        let (steps_tx, steps_rx) = mpsc::channel(4);
        let (results, mut results_rx) = mpsc::channel::<CallEvent>(4);
        tokio::spawn(async move {
            for (i, app) in plan.into_iter().enumerate() {
                let finished = matches!(app, step::App::Finished(_));
                let step = Step {
                    step_id: i as u64 + 1,
                    location: None,
                    app: Some(app),
                    hangup_at_unix_ms,
                };
                if steps_tx.send(Ok(step)).await.is_err() || finished {
                    return;
                }
                if dies_after == Some(i + 1) {
                    return;
                }
                let Some(ev) = results_rx.recv().await else {
                    return;
                };
                if let Some(asterism_proto::router::call_event::Event::Result(r)) = ev.event {
                    recorded.lock().unwrap().push(r);
                }
            }
        });
        let steps: ReceiverStream<Result<Step, tonic::Status>> = ReceiverStream::new(steps_rx);
        Box::pin(async move {
            Ok(Dialplan {
                steps: Box::pin(steps),
                results: Results::Stream(results),
            })
        })
    }

    fn open_media(&self, ask: MediaAsk) -> BoxFuture<Result<(MediaSession, String), BackendError>> {
        self.media_asks.lock().unwrap().push(ask);
        let r = self.media_result("s1", "v=0\r\ns=media\r\n".to_owned());
        Box::pin(async move { r })
    }

    fn open_relay(
        &self,
        ask: MediaAsk,
    ) -> BoxFuture<Result<(MediaSession, RelaySdp), BackendError>> {
        self.media_asks.lock().unwrap().push(ask);
        let sdp = RelaySdp {
            caller_answer: RELAY_TO_CALLER.into(),
            callee_offer: RELAY_TO_CALLEE.into(),
        };
        let r = self.media_result("r1", sdp);
        Box::pin(async move { r })
    }

    fn update_relay(
        &self,
        _: &MediaSession,
        side: crate::call::bridge::Side,
        sdp: String,
        offer: bool,
    ) -> BoxFuture<Result<String, BackendError>> {
        let refused = sdp.contains("G729");
        self.relay_updates.lock().unwrap().push((side, sdp, offer));
        Box::pin(async move {
            match (refused, offer) {
                (true, _) => Err(BackendError::NoCodec("no codec in common".into())),
                (false, true) => Ok(RELAY_REANSWER.to_owned()),
                (false, false) => Ok(String::new()),
            }
        })
    }

    fn relay_music(
        &self,
        _: &MediaSession,
        side: crate::call::bridge::Side,
        class: Option<String>,
        seq: u64,
    ) -> BoxFuture<Result<bool, BackendError>> {
        self.music.lock().unwrap().push((side, class, seq));
        Box::pin(async { Ok(true) })
    }

    fn swap_legs(&self, _: &MediaSession) -> BoxFuture<Result<(), BackendError>> {
        self.relay_updates.lock().unwrap().push((
            crate::call::bridge::Side::Caller,
            "swap".into(),
            false,
        ));
        Box::pin(async { Ok(()) })
    }

    fn dtmf(
        &self,
        _: &MediaSession,
    ) -> crate::call::backends::BoxStream<(crate::call::bridge::Side, char)> {
        match self.digits.lock().unwrap().1.take() {
            Some(rx) => Box::pin(tokio_stream::wrappers::UnboundedReceiverStream::new(rx)),
            None => Box::pin(futures::stream::empty()),
        }
    }

    fn match_extension(
        &self,
        context: &str,
        exten: &str,
        _: &str,
    ) -> BoxFuture<Result<(bool, bool), BackendError>> {
        let here = self.extensions.iter().filter(|(c, _)| c == context);
        let exists = here.clone().any(|(_, e)| e == exten);
        let more = here
            .into_iter()
            .any(|(_, e)| e.len() > exten.len() && e.starts_with(exten));
        Box::pin(async move { Ok((exists, more)) })
    }

    fn relay_prompts(
        &self,
        _: &MediaSession,
        side: crate::call::bridge::Side,
        files: Vec<String>,
        _: u64,
        wait: bool,
    ) -> BoxFuture<Result<bool, BackendError>> {
        self.prompts.lock().unwrap().push((side, files, wait));
        let d = self.play;
        Box::pin(async move {
            if wait {
                tokio::time::sleep(d).await;
            }
            Ok(true)
        })
    }

    fn play(&self, _: &MediaSession, _: Vec<String>) -> BoxFuture<Result<(), BackendError>> {
        let d = self.play;
        Box::pin(async move {
            tokio::time::sleep(d).await;
            Ok(())
        })
    }

    fn echo(&self, _: &MediaSession) -> BoxFuture<Result<EchoEnd, BackendError>> {
        let echo = self.echo.clone();
        Box::pin(async move {
            match echo {
                Some((d, end)) => {
                    tokio::time::sleep(d).await;
                    Ok(end)
                }
                None => std::future::pending().await,
            }
        })
    }

    fn media_lost(&self, _: &MediaSession) -> BoxFuture<()> {
        let lost = self.lost.clone();
        Box::pin(async move { lost.notified().await })
    }

    fn close_media(&self, s: MediaSession) -> BoxFuture<()> {
        self.closed.lock().unwrap().push(s.id);
        Box::pin(async {})
    }
}
