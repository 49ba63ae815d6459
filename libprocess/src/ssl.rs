//! libprocess's `LIBPROCESS_SSL_*` environment, as far as this build goes:
//! TLS is not implemented yet, so a process asked to enable it must refuse
//! to start instead of silently speaking plaintext.
//!
//! Owns only the reading of those variables. It never opens sockets or
//! loads certificates.

/// The variable that turns libprocess TLS on; every other `LIBPROCESS_SSL_*`
/// variable is only read by upstream when this one is true.
pub const SSL_ENABLED: &str = "LIBPROCESS_SSL_ENABLED";

/// Refuses a TLS-enabled environment: `Err` names the variable and says why.
///
/// `lookup` reads one variable (`std::env::var(..).ok()` in binaries, a map
/// in tests). Values follow stout's booleans: `true`/`1` enable (refused),
/// `false`/`0` or absence are plaintext (accepted), anything else is an
/// invalid value (refused, as upstream refuses it).
pub fn refuse_tls_environment(lookup: impl Fn(&str) -> Option<String>) -> Result<(), String> {
    let Some(value) = lookup(SSL_ENABLED) else {
        return Ok(());
    };
    match value.trim() {
        "false" | "0" => Ok(()),
        "true" | "1" => Err(format!(
            "{SSL_ENABLED}={value} asks for TLS, which this build does not implement yet; \
             refusing to start rather than serve plaintext (unset it or set it to false)"
        )),
        _ => Err(format!(
            "Failed to load {SSL_ENABLED}: expecting a boolean (true or false), got '{value}'"
        )),
    }
}

/// [`refuse_tls_environment`] on this process's environment.
pub fn refuse_tls_in_process_environment() -> Result<(), String> {
    refuse_tls_environment(|name| std::env::var(name).ok())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn with(value: Option<&str>) -> Result<(), String> {
        refuse_tls_environment(|name| {
            assert_eq!(name, SSL_ENABLED);
            value.map(str::to_string)
        })
    }

    #[test]
    fn tls_enabled_is_refused_by_name() {
        for value in ["true", "1", " true"] {
            let message = with(Some(value)).unwrap_err();
            assert!(message.contains(SSL_ENABLED), "{message}");
        }
        assert!(with(Some("yes")).unwrap_err().contains("boolean"));
    }

    #[test]
    fn plaintext_is_accepted() {
        assert_eq!(with(None), Ok(()));
        assert_eq!(with(Some("false")), Ok(()));
        assert_eq!(with(Some("0")), Ok(()));
    }
}
