//! The routing key `provider/model-name`, split at the first '/'.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelRef<'a> {
    pub provider: &'a str,
    /// The upstream's model name; may contain '/' itself (`meta-llama/Llama-3.3-70B`).
    pub model: &'a str,
}

impl<'a> ModelRef<'a> {
    /// `None` when the key has no '/': it is an alias, not a provider/model key.
    pub fn parse(key: &'a str) -> Option<Self> {
        key.split_once('/')
            .map(|(provider, model)| Self { provider, model })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_the_first_slash() {
        assert_eq!(
            ModelRef::parse("together/meta-llama/Llama-3.3-70B"),
            Some(ModelRef {
                provider: "together",
                model: "meta-llama/Llama-3.3-70B"
            })
        );
        assert_eq!(ModelRef::parse("smart"), None);
        assert_eq!(
            ModelRef::parse("echo/"),
            Some(ModelRef {
                provider: "echo",
                model: ""
            })
        );
    }
}
