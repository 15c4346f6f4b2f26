//! Model globs for key access rules: `*` matches any run of characters (slashes included),
//! `?` any one character; `openai/*`, `*-mini`, `smart`.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob(String);

impl Glob {
    pub fn new(pattern: &str) -> Self {
        Self(pattern.trim().to_owned())
    }

    pub fn any() -> Self {
        Self("*".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// How much a match says: the characters that are not wildcards. `openai/gpt-4.1` is more
    /// specific than `openai/*`.
    pub fn specificity(&self) -> usize {
        self.0.chars().filter(|c| !matches!(c, '*' | '?')).count()
    }

    pub fn matches(&self, text: &str) -> bool {
        matches(self.0.as_bytes(), text.as_bytes())
    }
}

/// Iterative wildcard matching with one backtrack point: linear in practice, no recursion.
fn matches(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let cases = [
            ("*", "openai/gpt-4.1", true),
            ("openai/*", "openai/gpt-4.1", true),
            ("openai/*", "openai/", true),
            ("openai/*", "groq/llama", false),
            ("echo/*", "echo/a/b", true),
            ("*-mini", "openai/gpt-4.1-mini", true),
            ("*-mini", "openai/gpt-4.1", false),
            ("smart", "smart", true),
            ("smart", "smarter", false),
            ("gpt-?", "gpt-4", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("", "", true),
            ("", "x", false),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(
                Glob::new(pattern).matches(text),
                expected,
                "{pattern} ~ {text}"
            );
        }
    }
}
