//! Every key chan_sip reads from `sip.conf` (its `reload_config`,
//! `build_peer`, `handle_common_options` and `handle_t38_options`, plus the
//! jitter buffer, DTLS and TLS families of `sip.conf.sample`), so that each
//! key in a user's file is either acted on, or warned about as "not
//! supported by Asterism" with file:line, or flagged as unknown (a typo,
//! or a key of another channel driver) — never silently accepted.

/// How Asterism treats a key met in sip.conf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Asterism acts on it.
    Implemented,
    /// chan_sip reads it; Asterism does not (`hint` says what to use instead).
    NotSupported { hint: Option<&'static str> },
    /// Not a chan_sip key.
    Unknown,
}

/// `[general]` keys Asterism acts on.
const GENERAL_DONE: &[&str] = &[
    "realm",
    "context",
    "allowguest",
    "alwaysauthreject",
    "register",
    "registertimeout",
    "allow",
    "disallow",
    "dtmfmode",
    "directmedia",
    "canreinvite",
    "nat",
    "mohinterpret",
    "mohsuggest",
    "vmexten",
    "allowsubscribe",
    "buggymwi",
    "allowtransfer",
];

/// Peer keys Asterism acts on (`max_contacts` is pjsip's, taken as an extension).
const PEER_DONE: &[&str] = &[
    "type",
    "secret",
    "md5secret",
    "context",
    "callerid",
    "host",
    "permit",
    "deny",
    "call-limit",
    "max_contacts",
    "directmedia",
    "canreinvite",
    "nat",
    "insecure",
    "port",
    "defaultuser",
    "username",
    "fromuser",
    "fromdomain",
    "outboundproxy",
    "remotesecret",
    "qualify",
    "qualifyfreq",
    "allow",
    "disallow",
    "dtmfmode",
    "mohinterpret",
    "mohsuggest",
    "mailbox",
    "vmexten",
    "allowsubscribe",
    "buggymwi",
    "allowtransfer",
    "callgroup",
    "pickupgroup",
];

/// chan_sip keys Asterism has its own setting for.
const HINTS: &[(&str, &str)] = &[
    ("bindaddr", "set ASTERISM_SIP_BIND"),
    ("bindport", "set ASTERISM_SIP_BIND"),
    ("udpbindaddr", "set ASTERISM_SIP_BIND"),
    ("tcpbindaddr", "set ASTERISM_SIP_BIND"),
    ("tcpenable", "TCP is always on at ASTERISM_SIP_BIND"),
    ("tcpauthlimit", "set ASTERISM_TCP_AUTH_LIMIT"),
    ("tcpauthtimeout", "set ASTERISM_TCP_AUTH_TIMEOUT"),
    ("externaddr", "set ASTERISM_SIP_ADVERTISE"),
    ("externip", "set ASTERISM_SIP_ADVERTISE"),
    ("externhost", "set ASTERISM_SIP_ADVERTISE"),
    ("defaultexpiry", "set ASTERISM_DEFAULT_EXPIRES"),
    ("defaultexpirey", "set ASTERISM_DEFAULT_EXPIRES"),
    ("minexpiry", "set ASTERISM_MIN_EXPIRES"),
    ("minexpirey", "set ASTERISM_MIN_EXPIRES"),
    ("maxexpiry", "set ASTERISM_MAX_EXPIRES"),
    ("maxexpirey", "set ASTERISM_MAX_EXPIRES"),
    ("timert1", "set ASTERISM_SIP_T"),
];

/// Keys of the jitter buffer, DTLS and TLS families (sip.conf.sample).
const FAMILIES: &[&str] = &[
    "dtlsautogeneratecert",
    "dtlscafile",
    "dtlscapath",
    "dtlscertfile",
    "dtlscipher",
    "dtlsenable",
    "dtlsfingerprint",
    "dtlsprivatekey",
    "dtlsrekey",
    "dtlssetup",
    "dtlsverify",
    "jbenable",
    "jbforce",
    "jbimpl",
    "jblog",
    "jbmaxsize",
    "jbresyncthreshold",
    "jbtargetextra",
    "tlsbindaddr",
    "tlscafile",
    "tlscapath",
    "tlscertfile",
    "tlscipher",
    "tlsclientmethod",
    "tlsdontverifyserver",
    "tlsenable",
    "tlsprivatekey",
];

fn listed(list: &[&str], key: &str) -> bool {
    list.iter().any(|k| k.eq_ignore_ascii_case(key))
}

fn not_supported(key: &str) -> Support {
    let hint = HINTS
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, h)| *h);
    Support::NotSupported { hint }
}

/// A key of `[general]`.
pub fn general(key: &str) -> Support {
    if listed(GENERAL_DONE, key) {
        Support::Implemented
    } else if listed(GENERAL, key) || listed(COMMON, key) || listed(FAMILIES, key) {
        not_supported(key)
    } else {
        Support::Unknown
    }
}

/// A key of a peer's section.
pub fn peer(key: &str) -> Support {
    if listed(PEER_DONE, key) {
        Support::Implemented
    } else if listed(PEER, key) || listed(COMMON, key) || listed(FAMILIES, key) {
        not_supported(key)
    } else {
        Support::Unknown
    }
}

/// Keys chan_sip reads in `[general]` (reload_config).
pub const GENERAL: &[&str] = &[
    "accept_outofcall_message",
    "allow",
    "allowexternaldomains",
    "allowguest",
    "allowtransfer",
    "alwaysauthreject",
    "auth",
    "auth_message_requests",
    "auth_options_requests",
    "authfailureevents",
    "autocreatepeer",
    "autodomain",
    "autoframing",
    "bindaddr",
    "bindport",
    "callcounter",
    "callerid",
    "compactheaders",
    "contactacl",
    "contactdeny",
    "contactpermit",
    "context",
    "cos_audio",
    "cos_sip",
    "cos_text",
    "cos_video",
    "defaultexpirey",
    "defaultexpiry",
    "directrtpsetup",
    "disallow",
    "disallowed_methods",
    "discard_remote_hold_retrieval",
    "domain",
    "domainsasrealm",
    "dumphistory",
    "dynamic_exclude_static",
    "dynamic_excludes_static",
    "externaddr",
    "externhost",
    "externip",
    "externrefresh",
    "externtcpport",
    "externtlsport",
    "fromdomain",
    "icesupport",
    "ignoreregexpire",
    "keepalive",
    "language",
    "legacy_useroption_parsing",
    "localnet",
    "match_auth_username",
    "matchexternaddrlocally",
    "matchexterniplocally",
    "maxcallbitrate",
    "maxexpirey",
    "maxexpiry",
    "maxforwards",
    "media_address",
    "minexpirey",
    "minexpiry",
    "mohinterpret",
    "mohsuggest",
    "mwi",
    "mwi_from",
    "mwiexpirey",
    "mwiexpiry",
    "notifycid",
    "notifyhold",
    "notifymimetype",
    "notifyringing",
    "outboundproxy",
    "outofcall_message_context",
    "parkinglot",
    "pedantic",
    "preferred_codec_only",
    "prematuremedia",
    "qualify",
    "qualifyfreq",
    "qualifygap",
    "qualifypeers",
    "realm",
    "recordhistory",
    "recordofffeature",
    "recordonfeature",
    "refer_addheaders",
    "regcontext",
    "regextenonqualify",
    "register",
    "register_retry_403",
    "registerattempts",
    "registertimeout",
    "relaxdtmf",
    "rtautoclear",
    "rtcachefriends",
    "rtpbindaddr",
    "rtpholdtimeout",
    "rtpkeepalive",
    "rtptimeout",
    "rtsavepath",
    "rtsavesysname",
    "rtupdate",
    "sdpowner",
    "sdpsession",
    "send_diversion",
    "session-expires",
    "session-minse",
    "session-refresher",
    "session-timers",
    "shrinkcallerid",
    "sipdebug",
    "snom_aoc_enabled",
    "srvlookup",
    "storesipcause",
    "submaxexpirey",
    "submaxexpiry",
    "subminexpirey",
    "subminexpiry",
    "subscribe_network_change_event",
    "subscribecontext",
    "t1min",
    "tcpauthlimit",
    "tcpauthtimeout",
    "tcpbindaddr",
    "tcpenable",
    "timerb",
    "timert1",
    "tlsverifyclient",
    "tonezone",
    "tos_audio",
    "tos_sip",
    "tos_text",
    "tos_video",
    "transport",
    "udpbindaddr",
    "use_q850_reason",
    "useragent",
    "usereqphone",
    "vmexten",
    "websocket_enabled",
    "websocket_write_timeout",
];

/// Keys chan_sip reads in a peer's section (build_peer).
pub const PEER: &[&str] = &[
    "accountcode",
    "acl",
    "allow",
    "allowtransfer",
    "amaflags",
    "auth",
    "autoframing",
    "avpf",
    "busylevel",
    "call-limit",
    "callbackextension",
    "callcounter",
    "callerid",
    "callgroup",
    "callingpres",
    "cid_number",
    "cid_tag",
    "contactacl",
    "contactdeny",
    "contactpermit",
    "context",
    "defaultip",
    "defaultuser",
    "deny",
    "description",
    "directmediaacl",
    "directmediadeny",
    "directmediapermit",
    "disallow",
    "disallowed_methods",
    "discard_remote_hold_retrieval",
    "encryption",
    "encryption_taglen",
    "force_avp",
    "fromdomain",
    "fromuser",
    "fullcontact",
    "fullname",
    "hasvoicemail",
    "header",
    "host",
    "icesupport",
    "ignore_requested_pref",
    "ipaddr",
    "keepalive",
    "language",
    "lastms",
    "mailbox",
    "maxcallbitrate",
    "maxforwards",
    "md5secret",
    "mohinterpret",
    "mohsuggest",
    "mwi_from",
    "name",
    "namedcallgroup",
    "namedpickupgroup",
    "outboundproxy",
    "outofcall_message_context",
    "parkinglot",
    "permit",
    "pickupgroup",
    "port",
    "preferred_codec_only",
    "qualify",
    "qualifyfreq",
    "recordofffeature",
    "recordonfeature",
    "regexten",
    "regseconds",
    "remotesecret",
    "rtp_engine",
    "rtpholdtimeout",
    "rtpkeepalive",
    "rtptimeout",
    "secret",
    "session-expires",
    "session-minse",
    "session-refresher",
    "session-timers",
    "setvar",
    "snom_aoc_enabled",
    "subscribecontext",
    "subscribemwi",
    "timerb",
    "timert1",
    "tonezone",
    "transport",
    "trunkname",
    "type",
    "unsolicited_mailbox",
    "use_q850_reason",
    "useragent",
    "usereqphone",
    "username",
    "vmexten",
];

/// Keys chan_sip reads in both (handle_common_options, handle_t38_options).
pub const COMMON: &[&str] = &[
    "allowoverlap",
    "allowsubscribe",
    "buggymwi",
    "canreinvite",
    "directmedia",
    "dtmfmode",
    "faxdetect",
    "g726nonstandard",
    "ignoresdpversion",
    "insecure",
    "nat",
    "progressinband",
    "promiscredir",
    "rfc2833compensate",
    "rpid_immediate",
    "rpid_update",
    "rtcp_mux",
    "sendrpid",
    "supportpath",
    "t38pt_udptl",
    "t38pt_usertpsource",
    "textsupport",
    "trust_id_outbound",
    "trustrpid",
    "useclientcode",
    "videosupport",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_a_place() {
        assert_eq!(general("realm"), Support::Implemented);
        assert_eq!(
            general("bindport"),
            Support::NotSupported {
                hint: Some("set ASTERISM_SIP_BIND")
            }
        );
        assert_eq!(
            general("PROGRESSINBAND"),
            Support::NotSupported { hint: None },
            "common keys too"
        );
        assert_eq!(general("NAT"), Support::Implemented);
        assert_eq!(general("jbenable"), Support::NotSupported { hint: None });
        assert_eq!(general("relam"), Support::Unknown);
        assert_eq!(peer("Secret"), Support::Implemented);
        assert_eq!(peer("qualify"), Support::Implemented);
        assert_eq!(peer("mailbox"), Support::Implemented);
        assert_eq!(peer("subscribemwi"), Support::NotSupported { hint: None });
        assert_eq!(peer("dtlsenable"), Support::NotSupported { hint: None });
        assert_eq!(peer("realm"), Support::Unknown, "a [general]-only key");
    }
}
