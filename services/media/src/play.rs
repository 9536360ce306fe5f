//! What is played to one side of a call, one 20 ms frame at a time: a
//! Playback's prompts (once, with progress for the edge) or a music on
//! hold class (its files in a loop until stopped), and the RTP stream our
//! frames go out in. Shared by plain sessions and relays, which play to
//! one leg while the other side holds, is being dialled, or is gone.

use crate::g711;
use crate::moh::Classes;
use crate::rtp::{self, Header};
use crate::sdp::Codec;
use crate::session::{Progress, SAMPLES_PER_FRAME};
use crate::sounds;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

pub type Frame = [i16; SAMPLES_PER_FRAME];

enum Source {
    Prompts {
        queue: VecDeque<String>,
        language: String,
        progress: mpsc::Sender<Progress>,
    },
    Music {
        files: Vec<PathBuf>,
        next: usize,
    },
}

pub struct Player {
    source: Source,
    samples: Vec<i16>,
    pos: usize,
    current: String,
}

impl Player {
    /// Playback's files, in order, reported to `progress`.
    pub fn prompts(
        files: Vec<String>,
        language: String,
        progress: mpsc::Sender<Progress>,
    ) -> Player {
        Player::with(Source::Prompts {
            queue: files.into(),
            language,
            progress,
        })
    }

    /// Music on hold `class` in a loop; None when there is no such class.
    pub fn music(class: &str, classes: &Classes) -> Option<Player> {
        let Some(c) = classes.get(class) else {
            tracing::warn!(class, "no such music on hold class: nothing played");
            return None;
        };
        let files = c.files(&mut |n| rand::random::<u32>() as usize % n.max(1));
        if files.is_empty() {
            tracing::warn!(class, "music on hold class has no playable files");
        }
        Some(Player::with(Source::Music { files, next: 0 }))
    }

    fn with(source: Source) -> Player {
        Player {
            source,
            samples: Vec::new(),
            pos: 0,
            current: String::new(),
        }
    }

    pub fn is_music(&self) -> bool {
        matches!(self.source, Source::Music { .. })
    }

    /// The next frame (the last one of a file padded with silence); None
    /// when the prompts are over (music goes on while any file plays).
    pub async fn frame(&mut self, sounds: &Path) -> Option<Frame> {
        if self.pos >= self.samples.len() && !self.next_file(sounds).await {
            return None;
        }
        let end = (self.pos + SAMPLES_PER_FRAME).min(self.samples.len());
        let mut frame = [0i16; SAMPLES_PER_FRAME];
        frame[..end - self.pos].copy_from_slice(&self.samples[self.pos..end]);
        self.pos = end;
        if self.pos >= self.samples.len() {
            if let Source::Prompts { progress, .. } = &self.source {
                let _ = progress
                    .send(Progress::Finished(self.current.clone()))
                    .await;
            }
        }
        Some(frame)
    }

    /// Start the next file (missing ones are reported and skipped).
    async fn next_file(&mut self, sounds: &Path) -> bool {
        match &mut self.source {
            Source::Prompts {
                queue,
                language,
                progress,
            } => {
                while let Some(name) = queue.pop_front() {
                    let (dir, lang, file) = (sounds.to_path_buf(), language.clone(), name.clone());
                    let loaded = off_runtime(move || sounds::load(&dir, &lang, &file)).await;
                    match loaded {
                        Ok(s) if !s.is_empty() => {
                            (self.samples, self.pos) = (s, 0);
                            self.current = name.clone();
                            let _ = progress.send(Progress::Started(name)).await;
                            return true;
                        }
                        _ => {
                            tracing::warn!(file = %name, dir = %sounds.display(), "sound file missing or unreadable");
                            let _ = progress.send(Progress::Missing(name)).await;
                        }
                    }
                }
                false
            }
            Source::Music { files, next } => {
                for _ in 0..files.len() {
                    let path = &files[*next % files.len()];
                    *next = (*next + 1) % files.len();
                    let file = path.clone();
                    match off_runtime(move || sounds::load_path(&file)).await {
                        Ok(s) if !s.is_empty() => {
                            (self.samples, self.pos) = (s, 0);
                            return true;
                        }
                        _ => {
                            tracing::warn!(file = %path.display(), "music on hold file unreadable")
                        }
                    }
                }
                false
            }
        }
    }
}

/// Read and decode a sound file on the blocking pool: a multi-megabyte
/// music file must not stall the task relaying a call (or its thread).
async fn off_runtime(
    load: impl FnOnce() -> Result<Vec<i16>, sounds::SoundError> + Send + 'static,
) -> Result<Vec<i16>, sounds::SoundError> {
    tokio::task::spawn_blocking(load)
        .await
        .unwrap_or_else(|_| Err(sounds::SoundError::Missing("loader failed".into())))
}

/// One outgoing RTP stream of ours: its SSRC, sequence and timestamp.
pub struct Stream {
    ssrc: u32,
    seq: u16,
    timestamp: u32,
    marker: bool,
    buf: Vec<u8>,
    payload: Vec<u8>,
}

impl Default for Stream {
    fn default() -> Self {
        Stream {
            ssrc: rand::random(),
            seq: rand::random(),
            timestamp: rand::random(),
            marker: true,
            buf: Vec::with_capacity(12 + SAMPLES_PER_FRAME),
            payload: Vec::with_capacity(SAMPLES_PER_FRAME),
        }
    }
}

impl Stream {
    /// The packet carrying `payload` (`samples` long) as payload type `pt`.
    pub fn packet(&mut self, pt: u8, payload: &[u8], samples: u32) -> &[u8] {
        let h = Header {
            marker: std::mem::take(&mut self.marker),
            payload_type: pt,
            seq: self.seq,
            timestamp: self.timestamp,
            ssrc: self.ssrc,
        };
        self.seq = self.seq.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(samples);
        rtp::build(&h, payload, &mut self.buf);
        &self.buf
    }

    /// The packet carrying `frame` encoded in `codec` as payload type `pt`.
    pub fn frame(&mut self, codec: Codec, pt: u8, frame: &Frame) -> &[u8] {
        let mut payload = std::mem::take(&mut self.payload);
        payload.clear();
        payload.extend(frame.iter().map(|&s| match codec {
            Codec::Pcmu => g711::linear_to_ulaw(s),
            Codec::Pcma => g711::linear_to_alaw(s),
        }));
        self.packet(pt, &payload, SAMPLES_PER_FRAME as u32);
        self.payload = payload;
        &self.buf
    }

    /// The next packet starts a talkspurt (marker bit): another source
    /// was sent in between.
    pub fn resume(&mut self) {
        self.marker = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn prompts_play_once_and_report() {
        let dir = std::env::temp_dir().join(format!("asterism-play-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("en")).unwrap();
        let samples: Vec<u8> = (0..200i16).flat_map(|s| s.to_le_bytes()).collect();
        std::fs::write(dir.join("en/hello.sln"), samples).unwrap();
        let (tx, mut rx) = mpsc::channel(8);
        let mut p = Player::prompts(vec!["gone".into(), "hello".into()], String::new(), tx);
        let first = p.frame(&dir).await.unwrap();
        assert_eq!(first[159], 159);
        let second = p.frame(&dir).await.unwrap();
        assert_eq!((second[39], second[40]), (199, 0), "padded with silence");
        assert!(p.frame(&dir).await.is_none());
        let mut got = Vec::new();
        while let Ok(e) = rx.try_recv() {
            got.push(e);
        }
        assert_eq!(
            got,
            [
                Progress::Missing("gone".into()),
                Progress::Started("hello".into()),
                Progress::Finished("hello".into())
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_stream_numbers_its_packets() {
        let mut s = Stream::default();
        let a = s.frame(Codec::Pcmu, 0, &[0; SAMPLES_PER_FRAME]).to_vec();
        let b = s.packet(8, &[1, 2], 2).to_vec();
        assert_eq!(a.len(), 12 + SAMPLES_PER_FRAME);
        assert_eq!(a[1], 0x80, "marker on the first packet");
        assert_eq!(b[1], 8);
        let seq = |p: &[u8]| u16::from_be_bytes([p[2], p[3]]);
        assert_eq!(seq(&b), seq(&a).wrapping_add(1));
    }
}
