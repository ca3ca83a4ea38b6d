//! Wire types shared between the Rust side and the Python harness (versioned).

use serde::{Deserialize, Serialize};

/// Bumped whenever a message shape changes; the harness echoes it back.
pub const PROTOCOL_VERSION: u32 = 1;

/// What `fastest_harness.collect` writes: the items Python collected.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DynamicCollection {
    pub protocol: u32,
    pub items: Vec<String>,
    pub errors: Vec<CollectionErrorReport>,
    #[serde(default)]
    pub deselected: usize,
    /// Set when collection could not run at all (e.g. pytest missing).
    #[serde(default)]
    pub fatal: Option<String>,
    #[serde(default)]
    pub exit_code: Option<i32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CollectionErrorReport {
    /// Node id of the collector that failed (a file path for module errors).
    pub nodeid: String,
    /// pytest's formatted long representation of the error.
    pub longrepr: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("malformed harness message: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("harness speaks protocol {got}, expected {PROTOCOL_VERSION}")]
    Version { got: u32 },
}

impl DynamicCollection {
    pub fn from_json(text: &str) -> Result<Self, ProtocolError> {
        let v: DynamicCollection = serde_json::from_str(text)?;
        if v.protocol != PROTOCOL_VERSION {
            return Err(ProtocolError::Version { got: v.protocol });
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_harness_output_and_checks_version() {
        let ok = r#"{"protocol":1,"items":["t.py::a"],"errors":[],"deselected":0,"fatal":null}"#;
        assert_eq!(DynamicCollection::from_json(ok).unwrap().items, ["t.py::a"]);
        let old = r#"{"protocol":0,"items":[],"errors":[]}"#;
        assert!(matches!(
            DynamicCollection::from_json(old),
            Err(ProtocolError::Version { got: 0 })
        ));
    }
}
