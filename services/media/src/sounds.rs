//! Sound files in Asterisk's layout (`<sounds>/<lang>/<name>.<ext>`, also
//! `<sounds>/<name>.<ext>`): WAV (8 kHz 16-bit mono PCM), raw `ulaw`,
//! `alaw` and `sln`, decoded to 16-bit linear samples at 8 kHz.

use crate::g711;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SoundError {
    #[error("no sound file '{0}'")]
    Missing(String),
    #[error("{0}: {1}")]
    Unsupported(PathBuf, &'static str),
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
}

const EXTENSIONS: [&str; 4] = ["wav", "ulaw", "alaw", "sln"];

/// Find and decode `name` (which must not climb out of the directory).
pub fn load(dir: &Path, language: &str, name: &str) -> Result<Vec<i16>, SoundError> {
    if name.is_empty() || name.contains("..") || name.starts_with('/') {
        return Err(SoundError::Missing(name.to_owned()));
    }
    let lang = if language.is_empty() { "en" } else { language };
    for base in [dir.join(lang), dir.to_path_buf()] {
        match load_path(&base.join(name)) {
            Err(SoundError::Missing(_)) => continue,
            found => return found,
        }
    }
    Err(SoundError::Missing(name.to_owned()))
}

/// Decode the file at `base` plus one of the extensions we read (music on
/// hold names its files by path).
pub fn load_path(base: &Path) -> Result<Vec<i16>, SoundError> {
    for ext in EXTENSIONS {
        let mut path = base.as_os_str().to_owned();
        path.push(format!(".{ext}"));
        let path = PathBuf::from(path);
        if path.is_file() {
            let bytes = std::fs::read(&path).map_err(|e| SoundError::Io(path.clone(), e))?;
            return decode(&path, ext, &bytes);
        }
    }
    Err(SoundError::Missing(base.display().to_string()))
}

fn decode(path: &Path, ext: &str, b: &[u8]) -> Result<Vec<i16>, SoundError> {
    Ok(match ext {
        "ulaw" => b.iter().map(|&x| g711::ulaw_to_linear(x)).collect(),
        "alaw" => b.iter().map(|&x| g711::alaw_to_linear(x)).collect(),
        "sln" => b
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect(),
        _ => wav(path, b)?,
    })
}

/// The samples of an 8 kHz, 16-bit, mono PCM WAV file.
fn wav(path: &Path, b: &[u8]) -> Result<Vec<i16>, SoundError> {
    let bad = |why| SoundError::Unsupported(path.to_path_buf(), why);
    if b.len() < 12 || &b[0..4] != b"RIFF" || &b[8..12] != b"WAVE" {
        return Err(bad("not a RIFF/WAVE file"));
    }
    let mut i = 12;
    let mut format_ok = false;
    while i + 8 <= b.len() {
        let id = &b[i..i + 4];
        let len = u32::from_le_bytes([b[i + 4], b[i + 5], b[i + 6], b[i + 7]]) as usize;
        let body = b
            .get(i + 8..(i + 8 + len).min(b.len()))
            .ok_or(bad("truncated chunk"))?;
        if id == b"fmt " {
            if body.len() < 16 {
                return Err(bad("short fmt chunk"));
            }
            let format = u16::from_le_bytes([body[0], body[1]]);
            let channels = u16::from_le_bytes([body[2], body[3]]);
            let rate = u32::from_le_bytes([body[4], body[5], body[6], body[7]]);
            let bits = u16::from_le_bytes([body[14], body[15]]);
            if format != 1 || channels != 1 || rate != 8000 || bits != 16 {
                return Err(bad("only 8 kHz 16-bit mono PCM WAV is supported"));
            }
            format_ok = true;
        } else if id == b"data" {
            if !format_ok {
                return Err(bad("data before fmt"));
            }
            return Ok(body
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect());
        }
        i += 8 + len + (len & 1);
    }
    Err(bad("no data chunk"))
}

/// An 8 kHz 16-bit mono WAV of `samples` (for tests and generated prompts).
pub fn wav_bytes(samples: &[i16]) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&8000u32.to_le_bytes());
    out.extend_from_slice(&16000u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_language_dir_and_decodes_wav() {
        let dir = std::env::temp_dir().join(format!("asterism-sounds-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("en")).unwrap();
        std::fs::write(dir.join("en/hello.wav"), wav_bytes(&[1, -2, 300])).unwrap();
        assert_eq!(load(&dir, "en", "hello").unwrap(), vec![1, -2, 300]);
        assert!(matches!(
            load(&dir, "en", "nope"),
            Err(SoundError::Missing(_))
        ));
        assert!(matches!(
            load(&dir, "en", "../etc/passwd"),
            Err(SoundError::Missing(_))
        ));
        std::fs::write(dir.join("en/bad.wav"), b"RIFFxxxxWAVEjunk").unwrap();
        assert!(matches!(
            load(&dir, "en", "bad"),
            Err(SoundError::Unsupported(..))
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
