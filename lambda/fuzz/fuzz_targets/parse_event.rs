//! Fuzzes the Lambda's event parsing: any bytes must give an event or an error, never a panic.
//! `events.rs` is compiled in directly (it depends only on serde_json and thiserror), so the
//! fuzz build does not compile shipline-core, libgit2 or the AWS SDK.

#![no_main]

#[path = "../../src/events.rs"]
#[allow(dead_code)]
mod events;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    match events::parse_slice(data) {
        Ok(events::Event::Ecr(action)) => {
            if let Ok(image) = action.image() {
                assert!(!image.tag.is_empty() && image.tag.len() <= events::MAX_TAG_LEN);
            }
        }
        Ok(events::Event::Job(job)) => {
            let _ = events::parse_user_parameters(job.user_parameters.as_deref());
        }
        Ok(events::Event::Scan) => {}
        Err(e) => assert!(!e.field.is_empty()),
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = events::parse_user_parameters(Some(text));
    }
});
