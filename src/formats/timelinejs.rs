//! Knight Lab TimelineJS 3 documents: `{"title": slide?, "events": [slide]}`,
//! which `new TL.Timeline(element, url)` renders directly.
//!
//! TimelineJS shows date parts as wall-clock values, so they are split in the
//! event's own `timezone` (UTC when it has none), and only down to the event's
//! `precision`: a day-precision event has no hour. Headline and text are
//! rendered as HTML by TimelineJS, so every stored string is escaped.

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::encoder::EventEncoder;
use crate::error::ApiError;
use crate::models::event::{Casualty, Event, Precision, Source, StoredEvent};
use crate::models::timeline::Timeline;

/// A TimelineJS 3 document.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "title": {"text": {"headline": "Unrest in Kazakhstan, January 2022", "text": "Built from one live-updated German news report."}},
    "events": [{
        "start_date": {"year": "2022", "month": "1", "day": "6", "hour": "0"},
        "end_date": {"year": "2022", "month": "1", "day": "6", "hour": "6"},
        "text": {"headline": "Dozens of protesters killed in Almaty, police say", "text": "<p>Times are local to Asia/Almaty.</p>"},
        "group": "casualties",
        "unique_id": "01943a8e-7c4e-7d2a-9b1e-3f5a2c9d8e01"
    }]
}))]
pub struct TimelineJsDocument {
    /// The title slide: the timeline's title and description (on `/v1/timelines/{slug}/events`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<Slide>,
    pub events: Vec<Slide>,
}

/// One TimelineJS slide.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Slide {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<SlideDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<SlideDate>,
    pub text: SlideText,
    /// The event type: TimelineJS draws each group on its own row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The event id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_id: Option<String>,
}

/// Headline and body, as HTML.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SlideText {
    pub headline: String,
    pub text: String,
}

/// A date split into parts (strings of digits, as TimelineJS's own examples
/// write them), down to the event's precision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SlideDate {
    pub year: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub month: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hour: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minute: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second: Option<String>,
}

impl SlideDate {
    pub fn new(instant: DateTime<Utc>, tz: chrono_tz::Tz, precision: Precision) -> Self {
        let local = instant.with_timezone(&tz);
        let rank = |p: Precision| p as u8;
        let part = |needed: Precision, value: u32| {
            (rank(precision) >= rank(needed)).then(|| value.to_string())
        };
        Self {
            year: local.year().to_string(),
            month: part(Precision::Month, local.month()),
            day: part(Precision::Day, local.day()),
            hour: part(Precision::Hour, local.hour()),
            minute: part(Precision::Minute, local.minute()),
            second: part(Precision::Second, local.second()),
        }
    }
}

impl Slide {
    pub fn title(timeline: &Timeline) -> Self {
        Self {
            start_date: None,
            end_date: None,
            text: SlideText {
                headline: escape(&timeline.title),
                text: timeline
                    .description
                    .as_deref()
                    .map(|d| format!("<p>{}</p>", escape(d)))
                    .unwrap_or_default(),
            },
            group: None,
            unique_id: None,
        }
    }

    pub fn of(event: &Event) -> Self {
        let tz = event
            .timezone
            .as_deref()
            .and_then(|tz| tz.parse().ok())
            .unwrap_or(chrono_tz::UTC);
        Self {
            start_date: Some(SlideDate::new(event.occurred_start, tz, event.precision)),
            end_date: event
                .occurred_end
                .map(|end| SlideDate::new(end, tz, event.precision)),
            text: SlideText {
                headline: escape(&event.title),
                text: body(event),
            },
            group: Some(event.event_type.to_string()),
            unique_id: Some(event.id.to_string()),
        }
    }
}

/// The slide body: summary, place and time zone, figures, sources.
fn body(event: &Event) -> String {
    let mut html = String::new();
    if let Some(summary) = &event.summary {
        html.push_str(&format!("<p>{}</p>", escape(summary)));
    }
    let mut facts = Vec::new();
    if let Some(location) = &event.location {
        facts.push(escape(&format!(
            "{}, {}.",
            location.name, location.country_code
        )));
    }
    if let (Some(tz), true) = (
        &event.timezone,
        event.precision as u8 >= Precision::Hour as u8,
    ) {
        facts.push(format!("Times are local to {}.", escape(tz)));
    }
    if event.status != Default::default() {
        facts.push(format!("Status: {}.", event.status.as_str()));
    }
    if !facts.is_empty() {
        html.push_str(&format!("<p>{}</p>", facts.join(" ")));
    }
    if !event.casualties.is_empty() {
        let items: String = event
            .casualties
            .iter()
            .map(|c| format!("<li>{}</li>", figure(c)))
            .collect();
        html.push_str(&format!("<ul>{items}</ul>"));
    }
    if !event.sources.is_empty() {
        let items: Vec<_> = event.sources.iter().map(citation).collect();
        html.push_str(&format!("<p>Sources: {}</p>", items.join("; ")));
    }
    html
}

/// "killed (protesters): at least 24, claimed".
fn figure(c: &Casualty) -> String {
    let count = match c.max {
        Some(max) if max == c.min => c.min.to_string(),
        Some(max) => format!("{}–{max}", c.min),
        None => format!("at least {}", c.min),
    };
    format!(
        "{} ({}): {count}, {}",
        c.kind.as_str(),
        escape(&c.party),
        c.status.as_str()
    )
}

/// A link for web sources, plain text for others (`urn:`), with the agencies relayed.
fn citation(source: &Source) -> String {
    let url = source.url.as_str();
    let label = escape(
        source
            .title
            .as_deref()
            .or(source.publisher.as_deref())
            .unwrap_or(url),
    );
    let mut text = if url.starts_with("https://") || url.starts_with("http://") {
        format!("<a href=\"{}\">{label}</a>", escape(url))
    } else {
        label
    };
    if !source.via.is_empty() {
        text.push_str(&format!(" (via {})", escape(&source.via.join(", "))));
    }
    text
}

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Writes a TimelineJS document one batch of slides at a time.
pub struct TimelineJs {
    title: Option<Slide>,
    started: bool,
}

impl TimelineJs {
    pub fn new(title: Option<Slide>) -> Self {
        Self {
            title,
            started: false,
        }
    }
}

impl EventEncoder for TimelineJs {
    fn head(&mut self) -> Vec<u8> {
        let mut out = b"{".to_vec();
        if let Some(title) = &self.title
            && let Ok(json) = serde_json::to_vec(title)
        {
            out.extend(b"\"title\":");
            out.extend(json);
            out.push(b',');
        }
        out.extend(b"\"events\":[");
        out
    }

    fn events(&mut self, events: &[StoredEvent]) -> Result<Vec<u8>, ApiError> {
        let mut out = Vec::new();
        for event in &super::encoder::parse_stored(events)? {
            if std::mem::replace(&mut self.started, true) {
                out.push(b',');
            }
            serde_json::to_writer(&mut out, &Slide::of(event)).map_err(ApiError::internal)?;
        }
        Ok(out)
    }

    fn tail(&mut self) -> Vec<u8> {
        b"]}".to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn dates_are_split_in_the_zone_down_to_the_precision() {
        let almaty: chrono_tz::Tz = "Asia/Almaty".parse().unwrap();
        // 18:00 UTC on the 5th is midnight of the 6th in Almaty.
        let day = SlideDate::new(at("2022-01-05T18:00:00Z"), almaty, Precision::Day);
        assert_eq!(
            (
                day.year.as_str(),
                day.month.as_deref(),
                day.day.as_deref(),
                day.hour.as_deref()
            ),
            ("2022", Some("1"), Some("6"), None)
        );
        let minute = SlideDate::new(at("2022-01-05T18:07:09Z"), almaty, Precision::Minute);
        assert_eq!(
            (
                minute.hour.as_deref(),
                minute.minute.as_deref(),
                minute.second.as_deref()
            ),
            (Some("0"), Some("7"), None)
        );
        let year = SlideDate::new(at("2022-01-05T18:00:00Z"), chrono_tz::UTC, Precision::Year);
        assert_eq!((year.year.as_str(), year.month.as_deref()), ("2022", None));
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape(r#"<script>"a" & 'b'</script>"#),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
    }
}
