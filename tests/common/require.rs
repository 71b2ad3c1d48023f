//! A test that needs a tool or a service CI installs: without it the test says SKIPPED, and
//! fails instead when CI requires it (`TOPO_REQUIRE_<NAME>=1`, exported by the .ci/setup
//! step that installs it).

/// Say that `what` did not run because of `why` (what is missing, and how to get it), or
/// fail when `var` is `1`. The caller returns after it.
pub fn skip_or_fail(var: &str, what: &str, why: &str) {
    if std::env::var(var).is_ok_and(|v| v == "1") {
        panic!("{var}=1 but {why}");
    }
    eprintln!("SKIPPED: {what}: {why}");
}
