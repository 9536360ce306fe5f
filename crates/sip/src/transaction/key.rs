//! Matching requests to server transactions (RFC 3261 §17.2.3): by top Via
//! branch and sent-by when the branch has the magic cookie, by the RFC 2543
//! fields otherwise. ACK matches the INVITE transaction it acknowledges.

use crate::header::Via;
use crate::method::Method;
use crate::validate::Checked;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TsxKey {
    Rfc3261 {
        branch: String,
        sent_by: String,
        /// INVITE for INVITE and ACK, the request's method otherwise.
        method: Method,
    },
    Rfc2543 {
        request_uri: String,
        from_tag: String,
        call_id: String,
        cseq: u32,
        via: String,
        method: Method,
    },
}

impl TsxKey {
    /// The key of the server transaction `method` belongs to.
    pub fn for_request(method: &Method, request_uri: &str, c: &Checked) -> Option<TsxKey> {
        let top: &Via = c.vias.first()?;
        let method = if *method == Method::ACK {
            Method::INVITE
        } else {
            method.clone()
        };
        Some(if top.is_rfc3261() {
            TsxKey::Rfc3261 {
                branch: top.branch().unwrap_or_default().to_owned(),
                sent_by: top.sent_by(),
                method,
            }
        } else {
            TsxKey::Rfc2543 {
                request_uri: request_uri.to_owned(),
                from_tag: c.from.tag().unwrap_or_default().to_owned(),
                call_id: c.call_id.clone(),
                cseq: c.cseq.seq,
                via: top.to_string(),
                method,
            }
        })
    }

    pub fn is_invite(&self) -> bool {
        let m = match self {
            TsxKey::Rfc3261 { method, .. } | TsxKey::Rfc2543 { method, .. } => method,
        };
        *m == Method::INVITE
    }
}

/// How every branch this stack generates starts.
pub const OUR_BRANCH_PREFIX: &str = "z9hG4bK-asm-";

/// A client transaction: the branch we put in our Via, and the method
/// (a CANCEL shares its INVITE's branch).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientKey {
    pub branch: String,
    pub method: Method,
}

impl ClientKey {
    /// A fresh key with a new RFC 3261 branch, marked as ours
    /// ([`OUR_BRANCH_PREFIX`]) so a request that loops back is recognised.
    pub fn new(method: Method) -> ClientKey {
        ClientKey {
            branch: format!("{OUR_BRANCH_PREFIX}{}", crate::response::random_token()),
            method,
        }
    }

    /// The key a response belongs to: its top Via branch and CSeq method.
    pub fn for_response(branch: &str, cseq_method: &str) -> ClientKey {
        ClientKey {
            branch: branch.to_owned(),
            method: Method::parse(cseq_method),
        }
    }
}
