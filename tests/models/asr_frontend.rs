//! The Rust log-mel front end against the reference implementation: faster-whisper's
//! `FeatureExtractor` run on the same signal (`tests/fixtures/mel_reference.json`, written by
//! `models/make_mel_fixture.py`).

use ddalkkak::inference::asr::mel::LogMel;

/// The fixture's signal, regenerated bit for bit (integer LCG noise + stepped triangle wave).
fn signal(n: usize) -> Vec<f32> {
    let mut state: u64 = 12345;
    (0..n)
        .map(|i| {
            state = (state * 1103515245 + 12345) % (1 << 31);
            let noise = (((state >> 8) % 2001) as f64 - 1000.0) / 8000.0;
            let period = 40 + (i / 1600) as i64 * 8;
            let phase = i as i64 % period;
            let tri = ((2 * phase - period).abs() as f64 / period as f64 - 0.5) * 0.8;
            (noise + tri) as f32
        })
        .collect()
}

#[test]
fn log_mel_matches_faster_whisper() {
    let fixture: serde_json::Value =
        serde_json::from_str(include_str!("../fixtures/mel_reference.json")).expect("fixture parses");
    let n = fixture["samples"].as_u64().unwrap() as usize;
    let frames = fixture["frames"].as_u64().unwrap() as usize;
    let reference: Vec<f32> = fixture["mel"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();

    let spec = LogMel::new(80).compute(&signal(n));
    assert_eq!((spec.n_mels, spec.frames), (80, frames));
    let max_diff = spec.data.iter().zip(&reference).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    let mean_diff = spec.data.iter().zip(&reference).map(|(a, b)| (a - b).abs()).sum::<f32>() / reference.len() as f32;
    eprintln!("log-mel vs faster-whisper: max |diff| {max_diff:.2e}, mean {mean_diff:.2e}");
    // The values span about 2 units; the fixture is rounded to 1e-6 and faster-whisper
    // computes in float32, so agreement to 1e-4 means the same front end.
    assert!(max_diff < 1e-4, "max |diff| {max_diff}");
}
