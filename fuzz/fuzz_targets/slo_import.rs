#![no_main]
//! Any text given to `nines slo import` is imported or refused with
//! errors naming a document; what is imported prints as YAML that reads
//! back to the same specs.
use libfuzzer_sys::fuzz_target;
use nines_slo::import::{import, ImportOptions};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let opts = ImportOptions {
        owner: Some("fuzz".into()),
        sloth_window: None,
    };
    match import(text, &opts) {
        Ok(out) => {
            for s in &out.slos {
                let yaml = serde_norway::to_string(s).expect("serializes");
                let back: nines_slo::SloSpec = serde_norway::from_str(&yaml).expect("reads back");
                // Compared as text: a NaN objective is not equal to itself.
                assert_eq!(serde_norway::to_string(&back).expect("serializes"), yaml);
            }
        }
        Err(errors) => assert!(errors.iter().all(|e| e.document >= 1)),
    }
});
