//! The figures a benchmark hands to `docs/BENCHMARKS.md`: named numbers, written as JSON to
//! `<out>/figures/<benchmark>.json`, from which `scripts/bench_doc.py` computes the table of
//! targets. The tables a benchmark prints go to the run's report as they are; these are the
//! few numbers a target is checked against, so that every ratio in the document comes from
//! the one run that wrote it.

use std::path::Path;

use serde_json::{Map, Value};

pub struct Figures {
    benchmark: String,
    values: Map<String, Value>,
}

impl Figures {
    pub fn new(benchmark: impl Into<String>) -> Self {
        Self { benchmark: benchmark.into(), values: Map::new() }
    }

    pub fn set(&mut self, name: impl Into<String>, value: impl Into<Value>) {
        self.values.insert(name.into(), value.into());
    }

    /// Writes `<out_dir>/figures/<benchmark>.json`, replacing what an earlier run wrote.
    pub fn write(&self, out_dir: &Path) -> Result<(), String> {
        let dir = out_dir.join("figures");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = dir.join(format!("{}.json", self.benchmark));
        let text = serde_json::to_string_pretty(&self.values).map_err(|e| e.to_string())?;
        std::fs::write(&path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_land_in_a_file_named_for_the_benchmark() {
        let dir = std::env::temp_dir().join(format!("hookpost-figures-{}", std::process::id()));
        let mut figures = Figures::new("delivery");
        figures.set("raw_per_second", 1234.5);
        figures.set("subscriptions", 10);
        figures.write(&dir).unwrap();
        let written: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("figures/delivery.json")).unwrap()).unwrap();
        assert_eq!(written, serde_json::json!({"raw_per_second": 1234.5, "subscriptions": 10}));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
