//! GeoJSON (RFC 7946): a FeatureCollection with one Point feature per event
//! that has coordinates; the feature's properties are the event itself.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::encoder::EventEncoder;
use crate::error::ApiError;
use crate::models::event::{Event, StoredEvent};

/// A GeoJSON FeatureCollection of events.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "type": "FeatureCollection",
    "features": [{
        "type": "Feature",
        "id": "01943a8e-7c4e-7d2a-9b1e-3f5a2c9d8e01",
        "geometry": {"type": "Point", "coordinates": [76.8897, 43.2389]},
        "properties": {"id": "01943a8e-7c4e-7d2a-9b1e-3f5a2c9d8e01", "title": "Dozens of protesters killed in Almaty, police say", "type": "casualties"}
    }]
}))]
pub struct EventFeatureCollection {
    /// Always `FeatureCollection`.
    #[serde(rename = "type")]
    pub kind: String,
    pub features: Vec<Feature>,
}

/// One event as a GeoJSON Feature.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Feature {
    /// Always `Feature`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The event id.
    pub id: String,
    pub geometry: Point,
    /// The event, as the JSON API shows it.
    pub properties: Event,
}

/// A GeoJSON Point.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Point {
    /// Always `Point`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `[longitude, latitude]` in degrees (WGS 84), in that order.
    pub coordinates: [f64; 2],
}

impl Feature {
    /// `None` for an event without coordinates: it has no place on a map.
    pub fn of(event: &Event) -> Option<FeatureRef<'_>> {
        let location = event.location.as_ref()?;
        Some(FeatureRef {
            kind: "Feature",
            id: event.id.to_string(),
            geometry: PointRef {
                kind: "Point",
                coordinates: [location.lon?, location.lat?],
            },
            properties: event,
        })
    }
}

/// A feature borrowing its event, for writing.
#[derive(Serialize)]
pub struct FeatureRef<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: String,
    geometry: PointRef,
    properties: &'a Event,
}

#[derive(Serialize)]
struct PointRef {
    #[serde(rename = "type")]
    kind: &'static str,
    coordinates: [f64; 2],
}

/// Writes a FeatureCollection one batch of features at a time.
#[derive(Default)]
pub struct FeatureCollection {
    started: bool,
}

impl EventEncoder for FeatureCollection {
    fn head(&mut self) -> Vec<u8> {
        br#"{"type":"FeatureCollection","features":["#.to_vec()
    }

    fn events(&mut self, events: &[StoredEvent]) -> Result<Vec<u8>, ApiError> {
        let mut out = Vec::new();
        let events = super::encoder::parse_stored(events)?;
        for feature in events.iter().filter_map(Feature::of) {
            if std::mem::replace(&mut self.started, true) {
                out.push(b',');
            }
            serde_json::to_writer(&mut out, &feature).map_err(ApiError::internal)?;
        }
        Ok(out)
    }

    fn tail(&mut self) -> Vec<u8> {
        b"]}".to_vec()
    }
}
