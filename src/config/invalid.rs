//! A failed check, before it knows its file: `Config::from_toml` adds the file, so each section
//! can be validated on its own.

/// (the key path from the file's root, what is wrong with it)
pub type Invalid = (String, String);

pub fn invalid(path: impl Into<String>, message: impl Into<String>) -> Invalid {
    (path.into(), message.into())
}
