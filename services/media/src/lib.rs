//! The media service: the only part of Asterism that speaks RTP. Each call
//! that the dialplan answers gets a session (SDP offer/answer, PCMU/PCMA,
//! RFC 4733 DTMF) that plays prompts and echoes, and each call between two
//! phones whose media is anchored gets a relay ([`relay`]); it scales apart
//! from the signalling services.

pub mod config;
pub mod g711;
pub mod grpc;
pub mod metrics;
pub mod moh;
pub mod node;
pub mod play;
pub mod ports;
pub mod relay;
pub mod rtp;
pub mod sdp;
pub mod session;
pub mod sounds;

use config::MediaConfig;

/// The gRPC service for `cfg`; a `musiconhold.conf` Asterisk would refuse
/// is an error naming file:line.
pub fn build(cfg: &MediaConfig) -> Result<grpc::MediaService, asterism_config::conf::ConfError> {
    // Asterisk's data directory holds `sounds` and `moh` side by side.
    let data_dir = cfg.sounds.parent().unwrap_or(std::path::Path::new("/"));
    let moh = moh::Classes::load(cfg.config_dir.as_deref(), data_dir)?;
    Ok(grpc::MediaService::new(
        ports::Ports::new(cfg.rtp_bind, cfg.rtp_first, cfg.rtp_last),
        session::Settings {
            sounds: cfg.sounds.clone(),
            moh,
            rtp_timeout: cfg.rtp_timeout,
            live: Default::default(),
        },
        cfg.advertise,
        cfg.capacity,
    ))
}
