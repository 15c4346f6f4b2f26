//! Media content parts (images, audio, files) as Gemini parts: inline base64 data, or a Files
//! API URI. The gateway never fetches a URL itself.

use super::types::{Blob, FileData, Part};
use crate::error::Error;
use crate::openai::message::{FileRef, InputAudio, base64_data_url};

/// Where Gemini's Files API hands out URIs: the only http(s) URLs Gemini reads by itself.
const FILES_API: &str = "https://generativelanguage.googleapis.com/";

/// An image (or other media) URL: a data URL goes inline; Gemini fetches only its own Files API
/// URIs, so any other URL is refused rather than fetched by the gateway.
pub fn url_part(url: &str, param: &str) -> Result<Part, Error> {
    if url.starts_with("data:") {
        return data_url(url, param).map(inline);
    }
    if url.starts_with(FILES_API) {
        return Ok(Part {
            file_data: Some(Box::new(FileData {
                mime_type: None,
                file_uri: url.to_owned(),
            })),
            ..Part::default()
        });
    }
    Err(Error::invalid(
        format!(
            "Gemini cannot fetch the URL in '{param}': send the image inline as a base64 data: URL, or upload it with the Gemini Files API and pass its https://generativelanguage.googleapis.com/... URI."
        ),
        Some(param),
    ))
}

pub fn audio_part(audio: &InputAudio, param: &str) -> Result<Part, Error> {
    let format = audio
        .format
        .as_deref()
        .filter(|f| !f.is_empty())
        .ok_or_else(|| {
            Error::invalid(
                format!("'{param}.format' is required (wav, mp3...)."),
                Some(&format!("{param}.format")),
            )
        })?;
    Ok(inline(Blob {
        mime_type: format!("audio/{format}"),
        data: audio.data.clone(),
    }))
}

pub fn file_part(file: &FileRef, param: &str) -> Result<Part, Error> {
    if let Some(data) = &file.file_data {
        if data.starts_with("data:") {
            return data_url(data, &format!("{param}.file_data")).map(inline);
        }
        // Bare base64 with a file name, as some clients send PDFs.
        if let Some(mime) = file.filename.as_deref().and_then(mime_from_name) {
            return Ok(inline(Blob {
                mime_type: mime.to_owned(),
                data: data.clone(),
            }));
        }
        return Err(Error::invalid(
            format!("'{param}.file_data' must be a data: URL (data:<media type>;base64,...)."),
            Some(&format!("{param}.file_data")),
        ));
    }
    let param = format!("{param}.file_id");
    Err(Error::invalid(
        format!(
            "Gemini cannot read OpenAI file ids ('{param}'): send the file inline as file_data."
        ),
        Some(&param),
    ))
}

fn mime_from_name(name: &str) -> Option<&'static str> {
    let extension = name.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match extension.as_str() {
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "wav" => "audio/wav",
        "mp3" => "audio/mp3",
        _ => return None,
    })
}

fn inline(blob: Blob) -> Part {
    Part {
        inline_data: Some(Box::new(blob)),
        ..Part::default()
    }
}

/// `data:<media type>[;params];base64,<data>`.
fn data_url(url: &str, param: &str) -> Result<Blob, Error> {
    let (mime, data) = base64_data_url(url).ok_or_else(|| {
        Error::invalid(
            format!(
                "'{param}' is not a base64 data URL with a media type (data:image/png;base64,...)."
            ),
            Some(param),
        )
    })?;
    Ok(Blob {
        mime_type: mime.to_owned(),
        data: data.to_owned(),
    })
}
