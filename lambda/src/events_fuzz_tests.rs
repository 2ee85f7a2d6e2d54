//! The `parse_event` fuzz target (`lambda/fuzz`, needs nightly) run on stable inside `cargo
//! test`: the seed events mutated by a fixed-seed generator for a bounded number of rounds, so
//! CI runs the same body the fuzzer does in a few hundred milliseconds, reproducibly.

use super::*;

const SEEDS: [&str; 3] = [
    include_str!("../fuzz/seeds/ecr-push.json"),
    include_str!("../fuzz/seeds/codepipeline-job.json"),
    include_str!("../fuzz/seeds/user-parameters.json"),
];

/// The body of `lambda/fuzz/fuzz_targets/parse_event.rs`.
fn body(data: &[u8]) {
    match parse_slice(data) {
        Ok(Event::Ecr(action)) => {
            if let Ok(image) = action.image() {
                assert!(!image.tag.is_empty() && image.tag.len() <= MAX_TAG_LEN);
            }
        }
        Ok(Event::Job(job)) => {
            let _ = parse_user_parameters(job.user_parameters.as_deref());
        }
        Ok(Event::Scan) => {}
        Err(e) => assert!(!e.field.is_empty()),
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_user_parameters(Some(text));
    }
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn fuzz_parse_event_bounded() {
    const ROUNDS: usize = 3000;
    const BYTES: &[u8] = b"{}[]\":,0123456789-tfn\\ \n\x00\xff";
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut parsed = 0;
    for round in 0..ROUNDS {
        let mut data = SEEDS[round % SEEDS.len()].as_bytes().to_vec();
        for _ in 0..=(rng.next() % 8) {
            let at = (rng.next() as usize) % (data.len() + 1);
            let byte = BYTES[(rng.next() as usize) % BYTES.len()];
            match rng.next() % 3 {
                0 => data.insert(at, byte),
                1 if at < data.len() => {
                    data.remove(at);
                }
                _ if at < data.len() => data[at] = byte,
                _ => {}
            }
        }
        if parse_slice(&data).is_ok() {
            parsed += 1;
        }
        body(&data);
    }
    // Positive control: mutation is light enough that some inputs still parse.
    assert!(parsed > 0, "no mutated input parsed: the body never reached the success path");
    for seed in SEEDS {
        body(seed.as_bytes());
    }
}
