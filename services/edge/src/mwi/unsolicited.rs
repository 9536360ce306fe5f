//! Message waiting for phones that never subscribe, as chan_sip's
//! `sip_send_mwi_to_peer` does it: a peer with `mailbox=` that registers
//! through this edge gets an out-of-dialog NOTIFY (Event:
//! message-summary, no Subscription-State) shortly after its 200, and
//! another whenever its mailboxes' counts change while it stays
//! registered; a peer with a subscription gets its NOTIFYs there instead.
//! The table holds the contacts registered through this edge only (their
//! flows are here), each until its registration ends, and at most
//! [`MAX_CONTACTS`] of them.

use super::body::{self, Account, Counts};
use super::subscription::EVENT;
use super::watch::{sum, Boxes};
use crate::command::CoreHandle;
use crate::Ctx;
use asterism_proto::registrar::Mwi;
use asterism_sip::header::{NameAddr, Via};
use asterism_sip::request::new_request;
use asterism_sip::response::random_token;
use asterism_sip::transaction::ClientKey;
use asterism_sip::transport::Flow;
use asterism_sip::{HeaderName, Method, Uri};
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Registered contacts with mailboxes one edge keeps at most.
pub const MAX_CONTACTS: usize = 100_000;
/// After a 200, before the first NOTIFY (the 200 goes first).
const AFTER_REGISTER: Duration = Duration::from_millis(100);

struct Contact {
    uri: String,
    /// Where its REGISTER came from (its registrations from there replace it).
    source: std::net::SocketAddr,
    /// Where its NOTIFYs go (as a call's INVITE would).
    flow: Flow,
    mwi: Mwi,
    /// host:port of this edge as the phone reached it.
    host: String,
    until: Instant,
    /// The counts of its last NOTIFY (none yet: its first is due).
    sent: Option<Counts>,
}

#[derive(Default)]
struct Inner {
    /// User → its contacts registered through this edge.
    users: HashMap<String, Vec<Contact>>,
    total: usize,
    /// Contacts just registered (user, URI), in registration order: their
    /// first NOTIFY is due [`AFTER_REGISTER`] after it.
    fresh: std::collections::VecDeque<(String, String, Instant)>,
    /// Users with a live subscription (its number, and how to end it):
    /// theirs goes there.
    subscribed: HashMap<String, (u64, tokio::sync::oneshot::Sender<()>)>,
    last_subscription: u64,
}

/// The registered contacts with mailboxes, and a bell for new ones.
#[derive(Clone, Default)]
pub struct Table {
    inner: Arc<Mutex<Inner>>,
    bell: Arc<Notify>,
}

fn lock(m: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Table {
    /// A REGISTER of `user` from `source` was answered 200 and its
    /// contacts from there are now `contacts` (URI, seconds left, where
    /// to reach it): the others it had from there are gone (Expires 0,
    /// `Contact: *`).
    pub fn registered(
        &self,
        user: &str,
        source: std::net::SocketAddr,
        host: &str,
        mwi: &Mwi,
        contacts: &[(&str, u32, Flow)],
    ) {
        let now = Instant::now();
        let mut guard = lock(&self.inner);
        let inner = &mut *guard;
        let mine = inner.users.entry(user.to_owned()).or_default();
        let before = mine.len();
        mine.retain(|c| c.source != source || contacts.iter().any(|(u, ..)| *u == c.uri));
        let mut added = 0;
        for &(uri, left, flow) in contacts {
            let until = now + Duration::from_secs(u64::from(left));
            if let Some(c) = mine.iter_mut().find(|c| c.uri == uri) {
                c.until = until;
                c.flow = flow;
                c.mwi = mwi.clone();
                continue;
            }
            if inner.total + added >= MAX_CONTACTS {
                tracing::warn!(%uri, "too many registered contacts with mailboxes: no MWI for it");
                continue;
            }
            added += 1;
            inner
                .fresh
                .push_back((user.to_owned(), uri.to_owned(), now + AFTER_REGISTER));
            mine.push(Contact {
                uri: uri.to_owned(),
                source,
                flow,
                mwi: mwi.clone(),
                host: host.to_owned(),
                until,
                sent: None,
            });
        }
        let after = mine.len();
        if mine.is_empty() {
            inner.users.remove(user);
        }
        inner.total = (inner.total + after).saturating_sub(before);
        drop(guard);
        self.bell.notify_one();
    }

    /// `user` subscribed: as chan_sip keeps one MWI subscription per peer,
    /// the one it had (on this edge) is told to end. Its number, and the
    /// signal that ends this one in turn.
    pub fn subscribe(&self, user: &str) -> (u64, tokio::sync::oneshot::Receiver<()>) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut inner = lock(&self.inner);
        inner.last_subscription += 1;
        let id = inner.last_subscription;
        if let Some((_, older)) = inner.subscribed.insert(user.to_owned(), (id, tx)) {
            let _ = older.send(());
        }
        (id, rx)
    }

    /// Subscription `id` of `user` ended (a newer one stays).
    pub fn unsubscribe(&self, user: &str, id: u64) {
        let mut inner = lock(&self.inner);
        if inner.subscribed.get(user).is_some_and(|(i, _)| *i == id) {
            inner.subscribed.remove(user);
        }
    }

    /// The first NOTIFYs of contacts registered at least
    /// [`AFTER_REGISTER`] ago; when the next one is due.
    fn fresh(&self, boxes: &Boxes, now: Instant) -> (Vec<Notice>, Option<Instant>) {
        let mut guard = lock(&self.inner);
        let inner = &mut *guard;
        let mut out = Vec::new();
        while let Some((user, uri, due)) = inner.fresh.front() {
            if *due > now {
                return (out, Some(*due));
            }
            let subscribed = inner.subscribed.contains_key(user);
            let contact = inner
                .users
                .get_mut(user)
                .and_then(|cs| cs.iter_mut().find(|c| c.uri == *uri));
            if let Some(c) = contact.filter(|c| c.sent.is_none() && !subscribed) {
                out.push(c.notice(boxes));
            }
            inner.fresh.pop_front();
        }
        (out, None)
    }

    /// NOTIFYs for every contact whose counts are not the ones it was last
    /// sent (after a change of the counts); expired contacts are dropped.
    fn changed(&self, boxes: &Boxes, now: Instant) -> Vec<Notice> {
        let mut guard = lock(&self.inner);
        let inner = &mut *guard;
        let mut out = Vec::new();
        let mut total = 0;
        inner.users.retain(|user, contacts| {
            contacts.retain(|c| c.until > now);
            total += contacts.len();
            if !inner.subscribed.contains_key(user) {
                for c in contacts.iter_mut() {
                    if c.sent != Some(sum(boxes, &c.mwi.mailboxes)) {
                        out.push(c.notice(boxes));
                    }
                }
            }
            !contacts.is_empty()
        });
        inner.total = total;
        out
    }
}

impl Contact {
    fn notice(&mut self, boxes: &Boxes) -> Notice {
        let counts = sum(boxes, &self.mwi.mailboxes);
        self.sent = Some(counts);
        Notice {
            uri: self.uri.clone(),
            flow: self.flow,
            host: self.host.clone(),
            mwi: self.mwi.clone(),
            counts,
        }
    }
}

/// One NOTIFY to send.
struct Notice {
    uri: String,
    flow: Flow,
    host: String,
    mwi: Mwi,
    counts: Counts,
}

impl Notice {
    fn request(&self) -> Option<(ClientKey, asterism_sip::Request)> {
        let to = NameAddr::new(None, Uri::parse(&self.uri).ok()?);
        let from =
            NameAddr::new(None, Uri::sip(&self.mwi.vmexten, &self.host)?).with_tag(&random_token());
        let key = ClientKey::new(Method::NOTIFY);
        let via = Via::new(self.flow.kind.as_str(), &self.host, &key.branch);
        let call_id = format!("{}@{}", random_token(), self.host);
        let mut r = new_request(Method::NOTIFY, &self.uri, &via, &from, &to, &call_id, 1, 70);
        r.headers.push(HeaderName::Event, EVENT);
        r.headers.push(HeaderName::ContentType, body::CONTENT_TYPE);
        let account = Account {
            vmexten: &self.mwi.vmexten,
            host: &self.host,
            transport: self.flow.kind,
            buggy_mwi: self.mwi.buggy_mwi,
        };
        r.body = Bytes::from(body::summary(self.counts, &account));
        Some((key, r))
    }
}

/// How often expired contacts are dropped when nothing else happens.
const SWEEP: Duration = Duration::from_secs(60);

/// Send what is due whenever a contact registers or the counts change.
pub async fn serve(ctx: Arc<Ctx>, core: CoreHandle) {
    let table = ctx.mwi_contacts.clone();
    let mut boxes = ctx.mwi.clone();
    let mut next: Option<Instant> = None;
    let mut sweep = tokio::time::interval(SWEEP);
    loop {
        let wake = next.unwrap_or_else(|| Instant::now() + SWEEP);
        // Every contact after a change of the counts (and each minute, to
        // drop expired ones); otherwise the newly registered.
        let everyone = tokio::select! {
            () = table.bell.notified() => false,
            () = tokio::time::sleep_until(wake) => false,
            changed = boxes.changed() => match changed {
                Ok(()) => true,
                Err(_) => return,
            },
            _ = sweep.tick() => true,
        };
        let current = boxes.borrow_and_update().clone();
        let now = Instant::now();
        let notices = match everyone {
            true => table.changed(&current, now),
            false => {
                let (n, due) = table.fresh(&current, now);
                next = due;
                n
            }
        };
        for n in notices {
            if let Some((key, request)) = n.request() {
                ctx.metrics.mwi_notifies.inc();
                core.request(key, n.flow, request).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use asterism_sip::transport::Kind;

    fn flow(port: u16) -> Flow {
        Flow {
            kind: Kind::Udp,
            remote: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    fn mwi() -> Mwi {
        Mwi {
            mailboxes: vec!["61@default".into()],
            vmexten: "asterisk".into(),
            buggy_mwi: false,
        }
    }

    fn boxes(new: u32) -> Boxes {
        Arc::new(HashMap::from([(
            "61@default".to_owned(),
            Counts { new, old: 0 },
        )]))
    }

    #[tokio::test(start_paused = true)]
    async fn first_after_the_200_then_at_each_change_unless_subscribed() {
        let t = Table::default();
        let src = flow(5062).remote;
        t.registered("carl", src, "h", &mwi(), &[("sip:carl@a", 60, flow(5062))]);
        let now = Instant::now();
        let (n, due) = t.fresh(&boxes(0), now);
        assert!(
            n.is_empty() && due == Some(now + AFTER_REGISTER),
            "not before the 200"
        );
        let (n, _) = t.fresh(&boxes(0), now + AFTER_REGISTER);
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].counts, Counts::default());
        let r = n[0].request().map(|(_, r)| r).expect("a NOTIFY");
        assert_eq!(r.uri, "sip:carl@a");
        assert!(String::from_utf8_lossy(&r.body).contains("Voice-Message: 0/0"));
        assert!(t.changed(&boxes(0), now).is_empty(), "nothing changed");
        assert_eq!(t.changed(&boxes(2), now).len(), 1);
        let (first, mut ended) = t.subscribe("carl");
        assert!(
            t.changed(&boxes(3), now).is_empty(),
            "its subscription tells it"
        );
        let (second, _) = t.subscribe("carl");
        assert!(
            ended.try_recv().is_ok(),
            "one subscription per peer: the older ends"
        );
        t.unsubscribe("carl", first);
        assert!(t.changed(&boxes(3), now).is_empty(), "the newer one stays");
        t.unsubscribe("carl", second);
        // A refresh keeps it; Expires 0 (nothing left from there) drops it.
        t.registered("carl", src, "h", &mwi(), &[("sip:carl@a", 60, flow(5062))]);
        assert_eq!(t.changed(&boxes(4), now).len(), 1);
        t.registered("carl", src, "h", &mwi(), &[]);
        assert!(t.changed(&boxes(5), now).is_empty());
        // An expired registration is dropped too.
        t.registered("carl", src, "h", &mwi(), &[("sip:carl@b", 1, flow(5062))]);
        assert!(t
            .changed(&boxes(6), now + Duration::from_secs(2))
            .is_empty());
        assert_eq!(lock(&t.inner).total, 0);
    }
}
