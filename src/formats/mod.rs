//! Output formats of event lists and statistics, and choosing one: `?format=`
//! wins over the `Accept` header. Each format has its own file; they turn
//! events into bytes and know nothing about the database.

pub mod columns;
pub mod csv;
pub mod encoder;
pub mod geojson;
pub mod ndjson;
pub mod stream;
pub mod timelinejs;

use actix_web::http::header::{self, Accept, Header, Quality};
use actix_web::mime;
use actix_web::{HttpRequest, HttpResponseBuilder};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::ApiError;
use crate::filter::Errors;
pub use encoder::EventEncoder;

/// A representation of events (or statistics) a client can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
    Ndjson,
    GeoJson,
    TimelineJs,
}

/// What the event lists offer, in order of preference when `Accept` allows several.
pub const EVENT_FORMATS: &[Format] = &[
    Format::Json,
    Format::Csv,
    Format::Ndjson,
    Format::GeoJson,
    Format::TimelineJs,
];

/// What the statistics offer.
pub const TABLE_FORMATS: &[Format] = &[Format::Json, Format::Csv];

pub const JSON: &str = "application/json";
pub const CSV: &str = "text/csv; charset=utf-8; header=present";
pub const NDJSON: &str = "application/x-ndjson";
pub const GEOJSON: &str = "application/geo+json";

impl Format {
    /// The value of `?format=`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Csv => "csv",
            Self::Ndjson => "ndjson",
            Self::GeoJson => "geojson",
            Self::TimelineJs => "timelinejs",
        }
    }

    /// The media type an `Accept` header selects this format by. TimelineJS
    /// documents are plain JSON, so only `?format=timelinejs` asks for one.
    pub fn media_type(self) -> Option<&'static str> {
        match self {
            Self::Json => Some(JSON),
            Self::Csv => Some("text/csv"),
            Self::Ndjson => Some(NDJSON),
            Self::GeoJson => Some(GEOJSON),
            Self::TimelineJs => None,
        }
    }

    /// The `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json | Self::TimelineJs => JSON,
            Self::Csv => CSV,
            Self::Ndjson => NDJSON,
            Self::GeoJson => GEOJSON,
        }
    }

    /// Whether the format carries every matching event (streamed) rather than a page.
    /// CSV pages unless `stream=all` asks for everything.
    pub fn is_whole_result(self) -> bool {
        matches!(self, Self::Ndjson | Self::GeoJson | Self::TimelineJs)
    }
}

/// Output parameters shared by lists and statistics.
#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FormatParams {
    /// Output format, overriding `Accept`: `json` (default), `csv`, and on the event lists also
    /// `ndjson`, `geojson` and `timelinejs`. Handy for links and browsers. The response's media
    /// type: `application/json` (`json`, `timelinejs`), `text/csv` (`csv`),
    /// `application/x-ndjson` (`ndjson`), `application/geo+json` (`geojson`).
    /// (Each operation's spec lists the values it offers.)
    #[param(value_type = Option<String>, example = "csv")]
    pub format: Option<String>,
    /// `true`: start CSV with a UTF-8 byte order mark, which Excel needs to read non-ASCII
    /// text correctly when a file is opened by double-click. CSV only; default `false`.
    /// `true` or `false`, nothing else (an empty `bom=` is refused).
    #[param(value_type = Option<bool>, example = false)]
    pub bom: Option<String>,
}

/// The output a request asked for, before `Accept` is consulted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutputChoice {
    pub format: Option<Format>,
    pub bom: bool,
}

impl FormatParams {
    pub fn parse(&self, errors: &mut Errors, offered: &[Format]) -> OutputChoice {
        let format = self.format.as_deref().and_then(|raw| {
            let found = offered.iter().copied().find(|f| f.name() == raw);
            if found.is_none() {
                let names: Vec<_> = offered.iter().map(|f| f.name()).collect();
                errors.push(
                    "format",
                    format!("`{raw}` is not one of: {}", names.join(", ")),
                );
            }
            found
        });
        let bom = match self.bom.as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                errors.push("bom", format!("`{other}` is not `true` or `false`"));
                false
            }
        };
        OutputChoice { format, bom }
    }
}

impl OutputChoice {
    /// The format to respond in: `?format=` if given, else the best match for
    /// `Accept` (JSON without one, or for `*/*` and `application/*`).
    pub fn negotiate(self, req: &HttpRequest, offered: &[Format]) -> Result<Format, ApiError> {
        let format = match self.format {
            Some(format) => format,
            None => from_accept(req, offered)?,
        };
        if self.bom && format != Format::Csv {
            return Err(ApiError::field("bom", "applies to CSV output only"));
        }
        Ok(format)
    }
}

fn from_accept(req: &HttpRequest, offered: &[Format]) -> Result<Format, ApiError> {
    let default = offered.first().copied().unwrap_or(Format::Json);
    // Unparsable items are skipped; a header with none left states no preference.
    let ranges = Accept::parse(req).map(|a| a.0).unwrap_or_default();
    if ranges.is_empty() {
        return Ok(default);
    }
    let mut best: Option<(Quality, Format)> = None;
    for format in offered {
        let Some(media_type) = format.media_type() else {
            continue;
        };
        let quality = quality_of(&ranges, media_type);
        // Strictly better only: on a tie the server's order decides.
        if quality > Quality::ZERO && best.is_none_or(|(q, _)| quality > q) {
            best = Some((quality, *format));
        }
    }
    best.map(|(_, format)| format).ok_or_else(|| {
        let supported: Vec<_> = offered.iter().filter_map(|f| f.media_type()).collect();
        ApiError::NotAcceptable(format!(
            "none of the media types in Accept is available here; supported: {}{}",
            supported.join(", "),
            if offered.contains(&Format::TimelineJs) {
                " (and TimelineJS JSON with ?format=timelinejs)"
            } else {
                ""
            }
        ))
    })
}

/// The quality `Accept` gives `media_type`: that of the most specific range
/// matching it (RFC 9110, section 12.5.1), zero if none does.
fn quality_of(ranges: &[header::QualityItem<mime::Mime>], media_type: &str) -> Quality {
    let (main, _) = media_type.split_once('/').unwrap_or((media_type, ""));
    ranges
        .iter()
        .filter_map(|range| {
            let specificity = if range.item.essence_str().eq_ignore_ascii_case(media_type) {
                2
            } else if range.item.subtype() == mime::STAR
                && range.item.type_().as_str().eq_ignore_ascii_case(main)
            {
                1
            } else if range.item.type_() == mime::STAR {
                0
            } else {
                return None;
            };
            Some((specificity, range.quality))
        })
        .max_by_key(|(specificity, _)| *specificity)
        .map(|(_, quality)| quality)
        .unwrap_or(Quality::ZERO)
}

/// Headers of every negotiated read: `Vary: Accept`, so that caches keep one
/// copy per format, and `Access-Control-Allow-Origin: *`, so that a page on
/// another origin (a TimelineJS or map embed) can fetch the URL. These reads
/// take no credentials, so any origin may read what any client can. For a
/// request with an `Origin` header the CORS layer replaces the `*` with that
/// origin (and adds `Vary: Origin`), unless `CHRONIK_CORS_ORIGINS=*`.
pub fn read_headers(builder: &mut HttpResponseBuilder) -> &mut HttpResponseBuilder {
    builder
        .insert_header((header::VARY, "Accept"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
}

/// Headers for a CSV download: a file name, and its type.
pub fn csv_download<'b>(
    builder: &'b mut HttpResponseBuilder,
    file_stem: &str,
) -> &'b mut HttpResponseBuilder {
    builder
        .insert_header((header::CONTENT_TYPE, CSV))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{file_stem}.csv\""),
        ))
}

/// The encoder of a format that streams events; `None` for paged JSON,
/// whose envelope (`data`, `next_cursor`) is not a stream.
pub fn event_encoder(
    format: Format,
    bom: bool,
    title: Option<timelinejs::Slide>,
) -> Option<Box<dyn EventEncoder>> {
    match format {
        Format::Json => None,
        Format::Csv => Some(Box::new(csv::EventCsv::new(bom))),
        Format::Ndjson => Some(Box::new(ndjson::Ndjson)),
        Format::GeoJson => Some(Box::new(geojson::FeatureCollection::default())),
        Format::TimelineJs => Some(Box::new(timelinejs::TimelineJs::new(title))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn pick(accept: Option<&str>, offered: &[Format]) -> Result<Format, ApiError> {
        let mut req = TestRequest::default();
        if let Some(accept) = accept {
            req = req.insert_header((header::ACCEPT, accept));
        }
        OutputChoice::default().negotiate(&req.to_http_request(), offered)
    }

    #[test]
    fn accept_picks_the_best_supported_type() {
        let cases = [
            (None, Format::Json),
            (Some("*/*"), Format::Json),
            (Some("application/*"), Format::Json),
            (Some("text/*"), Format::Csv),
            (Some("text/csv"), Format::Csv),
            (Some("text/csv; header=present; charset=utf-8"), Format::Csv),
            (Some("application/x-ndjson"), Format::Ndjson),
            (Some("application/geo+json"), Format::GeoJson),
            (
                Some("text/csv;q=0.5, application/geo+json"),
                Format::GeoJson,
            ),
            (Some("text/csv;q=0.5, */*;q=0.1"), Format::Csv),
            (Some("application/json;q=0, */*"), Format::Csv),
            (Some("text/html, */*;q=0.8"), Format::Json),
            (Some(""), Format::Json),
        ];
        for (accept, expected) in cases {
            assert_eq!(pick(accept, EVENT_FORMATS).unwrap(), expected, "{accept:?}");
        }
    }

    #[test]
    fn unsupported_types_only_are_not_acceptable() {
        for accept in ["text/html", "application/xml, image/*", "text/csv;q=0"] {
            let err = pick(Some(accept), EVENT_FORMATS).unwrap_err();
            assert!(matches!(err, ApiError::NotAcceptable(_)), "{accept}");
            assert!(err.to_string().contains("text/csv"), "{err}");
        }
        assert!(pick(Some("application/x-ndjson"), TABLE_FORMATS).is_err());
    }

    #[test]
    fn format_parameter_wins_and_is_checked() {
        let mut errors = Errors::default();
        let params = FormatParams {
            format: Some("geojson".into()),
            bom: None,
        };
        let choice = params.parse(&mut errors, EVENT_FORMATS);
        let req = TestRequest::default()
            .insert_header((header::ACCEPT, "text/html"))
            .to_http_request();
        assert_eq!(
            choice.negotiate(&req, EVENT_FORMATS).unwrap(),
            Format::GeoJson
        );
        let unknown = FormatParams {
            format: Some("xml".into()),
            bom: None,
        };
        unknown.parse(&mut errors, EVENT_FORMATS);
        let offered_elsewhere = FormatParams {
            format: Some("ndjson".into()),
            bom: None,
        };
        offered_elsewhere.parse(&mut errors, TABLE_FORMATS);
        assert!(errors.finish().is_err());
    }
}
