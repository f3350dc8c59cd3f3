#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| hookd::fuzzing::run("inbound_aws_sns", data));
