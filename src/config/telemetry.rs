//! `[telemetry]`: OpenTelemetry traces over OTLP/HTTP, from the config or from the standard
//! `OTEL_EXPORTER_OTLP_*` variables (the config wins where both say something).

use serde::Deserialize;

use super::env::EnvLookup;
use super::invalid::{Invalid, invalid};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TelemetryConfig {
    /// Where spans are posted (the full URL, `.../v1/traces`); none: no traces.
    pub traces_url: Option<String>,
    /// Headers sent with every export (`OTEL_EXPORTER_OTLP_HEADERS`: an API key, a tenant).
    pub headers: Vec<(String, String)>,
    /// `service.name` of the spans (`OTEL_SERVICE_NAME`; default `switchyard`).
    pub service_name: String,
    /// Prompts and answers in spans: never unless asked for.
    pub capture_content: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTelemetry {
    /// The collector's base URL (`http://collector:4318`): spans go to `/v1/traces` under it.
    otlp_endpoint: Option<String>,
    capture_content: Option<bool>,
}

pub(super) fn validate(raw: RawTelemetry, env: EnvLookup<'_>) -> Result<TelemetryConfig, Invalid> {
    let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    // The signal's own variable is the full URL; the general one, and the config's key, a base.
    let traces_url = match (raw.otlp_endpoint, var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) {
        (Some(base), _) => Some(("telemetry.otlp_endpoint", under(&base))),
        (None, Some(url)) => Some(("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", url)),
        (None, None) => var("OTEL_EXPORTER_OTLP_ENDPOINT")
            .map(|base| ("OTEL_EXPORTER_OTLP_ENDPOINT", under(&base))),
    };
    let traces_url = traces_url
        .map(|(source, url)| match reqwest::Url::parse(&url) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Ok(url),
            _ => Err(invalid(
                source,
                format!("{url:?} is not an http(s) URL such as \"http://collector:4318\""),
            )),
        })
        .transpose()?;
    let headers = var("OTEL_EXPORTER_OTLP_TRACES_HEADERS")
        .or_else(|| var("OTEL_EXPORTER_OTLP_HEADERS"))
        .map(|text| headers(&text))
        .transpose()?
        .unwrap_or_default();
    if let Some(protocol) =
        var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL").or_else(|| var("OTEL_EXPORTER_OTLP_PROTOCOL"))
        && traces_url.is_some()
        && protocol != "http/json"
    {
        return Err(invalid(
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            format!("switchyard exports traces as \"http/json\" only, not {protocol:?}"),
        ));
    }
    Ok(TelemetryConfig {
        traces_url,
        headers,
        service_name: var("OTEL_SERVICE_NAME").unwrap_or_else(|| "switchyard".into()),
        capture_content: raw.capture_content.unwrap_or(false),
    })
}

/// `base` + `/v1/traces`, as the OTLP exporter specification builds a signal's URL.
fn under(base: &str) -> String {
    format!("{}/v1/traces", base.trim_end_matches('/'))
}

/// `key=value,key2=value2`, values percent-decoded, as the OTLP exporter specification writes them.
fn headers(text: &str) -> Result<Vec<(String, String)>, Invalid> {
    text.split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').ok_or_else(|| {
                invalid(
                    "OTEL_EXPORTER_OTLP_HEADERS",
                    "must be key=value pairs separated by commas".to_owned(),
                )
            })?;
            Ok((key.trim().to_owned(), percent_decoded(value.trim())))
        })
        .collect()
}

fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(high), Some(low)) => {
                out.push(u8::try_from(high * 16 + low).unwrap_or(b'?'));
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(vars: &[(&str, &str)], raw: RawTelemetry) -> Result<TelemetryConfig, Invalid> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let lookup = move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        validate(raw, &lookup)
    }

    #[test]
    fn the_endpoint_comes_from_the_config_or_the_standard_variables() {
        let off = with(&[], RawTelemetry::default()).ok();
        assert_eq!(off.and_then(|c| c.traces_url), None);
        let base = with(
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/")],
            RawTelemetry::default(),
        );
        assert_eq!(
            base.ok().and_then(|c| c.traces_url).as_deref(),
            Some("http://c:4318/v1/traces")
        );
        let signal = with(
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:9/custom"),
                ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=a%20b, tenant=x"),
                ("OTEL_SERVICE_NAME", "edge"),
            ],
            RawTelemetry::default(),
        )
        .unwrap_or_else(|e| unreachable!("{e:?}"));
        assert_eq!(signal.traces_url.as_deref(), Some("http://t:9/custom"));
        assert_eq!(
            signal.headers,
            [
                ("api-key".to_owned(), "a b".to_owned()),
                ("tenant".into(), "x".into())
            ]
        );
        assert_eq!(signal.service_name, "edge");
        let config = with(
            &[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:9/custom")],
            RawTelemetry {
                otlp_endpoint: Some("https://mine:4318".into()),
                capture_content: Some(true),
            },
        )
        .unwrap_or_else(|e| unreachable!("{e:?}"));
        assert_eq!(
            config.traces_url.as_deref(),
            Some("https://mine:4318/v1/traces")
        );
        let grpc = with(
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ],
            RawTelemetry::default(),
        );
        assert!(grpc.is_err());
        let bad = with(
            &[],
            RawTelemetry {
                otlp_endpoint: Some("collector".into()),
                capture_content: None,
            },
        );
        assert!(bad.is_err());
    }
}
