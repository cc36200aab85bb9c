//! `ACCOUNT_NAMES`, written by an operator: any text is names or a configuration error naming the
//! variable, never a panic; every name read belongs to a 12-digit account ID and is not blank.
#![no_main]

use chatops_shared::aws::accounts::{AccountsConfig, NAMES_VAR, is_account_id};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    let lookup = |var: &str| (var == NAMES_VAR).then(|| text.clone());
    match AccountsConfig::from_lookup(&lookup) {
        Ok(config) => {
            for (id, name) in &config.names {
                assert!(is_account_id(id), "{id:?}");
                assert!(!name.trim().is_empty());
            }
        }
        Err(err) => assert_eq!(err.var(), NAMES_VAR),
    }
});
