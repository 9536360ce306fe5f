//! G.711 μ-law (PCMU) and A-law (PCMA), ITU-T G.711, to and from 16-bit
//! linear samples.

const BIAS: i32 = 0x84;
const CLIP: i32 = 32635;

pub fn linear_to_ulaw(sample: i16) -> u8 {
    let mut s = i32::from(sample);
    let sign = if s < 0 { 0x80 } else { 0 };
    if s < 0 {
        s = -s;
    }
    s = s.min(CLIP) + BIAS;
    let mut exponent = 7;
    let mut mask = 0x4000;
    while exponent > 0 && s & mask == 0 {
        exponent -= 1;
        mask >>= 1;
    }
    let mantissa = (s >> (exponent + 3)) & 0x0F;
    !((sign | (exponent << 4) | mantissa) as u8)
}

pub fn ulaw_to_linear(u: u8) -> i16 {
    let u = !u;
    let sign = u & 0x80;
    let exponent = i32::from((u >> 4) & 0x07);
    let mantissa = i32::from(u & 0x0F);
    let s = (((mantissa << 3) + BIAS) << exponent) - BIAS;
    (if sign != 0 { -s } else { s }) as i16
}

pub fn linear_to_alaw(sample: i16) -> u8 {
    let mut s = i32::from(sample) >> 3;
    let sign = if s >= 0 { 0xD5 } else { 0x55 };
    if s < 0 {
        s = -s - 1;
    }
    let seg_end = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
    let seg = seg_end.iter().position(|&e| s <= e).unwrap_or(8) as i32;
    let a = if seg >= 8 {
        0x7F
    } else {
        let shift = if seg < 2 { 1 } else { seg };
        (seg << 4) | ((s >> shift) & 0x0F)
    };
    (a as u8) ^ sign
}

pub fn alaw_to_linear(a: u8) -> i16 {
    let a = a ^ 0x55;
    let mut t = i32::from(a & 0x0F) << 4;
    let seg = i32::from((a & 0x70) >> 4);
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

/// μ-law → A-law and back, one byte for one (a relay transcodes in
/// place): decode and re-encode, tabulated once.
static TABLES: std::sync::LazyLock<([u8; 256], [u8; 256])> = std::sync::LazyLock::new(|| {
    let (mut u2a, mut a2u) = ([0u8; 256], [0u8; 256]);
    for b in 0..=255u8 {
        u2a[usize::from(b)] = linear_to_alaw(ulaw_to_linear(b));
        a2u[usize::from(b)] = linear_to_ulaw(alaw_to_linear(b));
    }
    (u2a, a2u)
});

/// Rewrite a PCMU payload as PCMA, in place.
pub fn ulaw_to_alaw_in_place(payload: &mut [u8]) {
    let t = &TABLES.0;
    payload.iter_mut().for_each(|b| *b = t[usize::from(*b)]);
}

/// Rewrite a PCMA payload as PCMU, in place.
pub fn alaw_to_ulaw_in_place(payload: &mut [u8]) {
    let t = &TABLES.1;
    payload.iter_mut().for_each(|b| *b = t[usize::from(*b)]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_stay_close() {
        for s in (-32000i32..32000).step_by(97) {
            let s = s as i16;
            let u = ulaw_to_linear(linear_to_ulaw(s));
            let a = alaw_to_linear(linear_to_alaw(s));
            let tol = (i32::from(s).abs() / 16).max(16);
            assert!(
                (i32::from(u) - i32::from(s)).abs() <= tol,
                "ulaw {s} -> {u}"
            );
            assert!(
                (i32::from(a) - i32::from(s)).abs() <= tol,
                "alaw {s} -> {a}"
            );
        }
    }

    #[test]
    fn silence_codes() {
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_alaw(0), 0xD5);
    }

    #[test]
    fn transcoding_keeps_the_signal() {
        for s in (-30000i32..30000).step_by(331) {
            let s = s as i16;
            let mut b = [linear_to_ulaw(s)];
            ulaw_to_alaw_in_place(&mut b);
            let back = alaw_to_linear(b[0]);
            let tol = (i32::from(s).abs() / 8).max(32);
            assert!(
                (i32::from(back) - i32::from(s)).abs() <= tol,
                "{s} -> {back}"
            );
            let mut b = [linear_to_alaw(s)];
            alaw_to_ulaw_in_place(&mut b);
            let back = ulaw_to_linear(b[0]);
            assert!(
                (i32::from(back) - i32::from(s)).abs() <= tol,
                "{s} -> {back}"
            );
        }
    }
}
