//! Writing one metric family at scrape time: its `# HELP`/`# TYPE` lines, then one sample per
//! label set, with label values escaped as the exposition format requires.

use std::fmt::{self, Write};

use prometheus_client::encoding::{
    DescriptorEncoder, EncodeCounterValue, EncodeGaugeValue, EncodeLabelValue, LabelValueEncoder,
    MetricEncoder, NoLabelSet,
};
use prometheus_client::metrics::MetricType;

/// A sample's labels, in order.
pub(crate) type Labels = Vec<(&'static str, Text)>;

/// A label value, escaped when written (`\`, `"` and line feeds), since path names and
/// addresses come from clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Text(pub(crate) String);

/// What kind of family is written, which decides its `# TYPE` and its samples' names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `gauge`: a value that goes up and down.
    Gauge,
    /// `counter`: samples are named `<name>_total`.
    Counter,
    /// `unknown`: a counter kept under MediaMTX's name, which has no `_total` suffix.
    Unsuffixed,
}

/// Writes the family `name` of `kind` with `samples`. A family without samples is still
/// described, so its name is always in the exposition.
pub(crate) fn write<V>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    kind: Kind,
    samples: &[(Labels, V)],
) -> fmt::Result
where
    V: EncodeGaugeValue + EncodeCounterValue,
{
    let metric_type = match kind {
        Kind::Gauge => MetricType::Gauge,
        Kind::Counter => MetricType::Counter,
        Kind::Unsuffixed => MetricType::Unknown,
    };
    let mut family = encoder.encode_descriptor(name, help, None, metric_type)?;
    for (labels, value) in samples {
        if labels.is_empty() {
            encode_value(&mut family, kind, value)?;
        } else {
            encode_value(&mut family.encode_family(labels)?, kind, value)?;
        }
    }
    Ok(())
}

/// One sample's value (a sample without labels is written without braces).
fn encode_value<V>(sample: &mut MetricEncoder<'_>, kind: Kind, value: &V) -> fmt::Result
where
    V: EncodeGaugeValue + EncodeCounterValue,
{
    match kind {
        Kind::Counter => sample.encode_counter::<NoLabelSet, V, f64>(value, None),
        Kind::Gauge | Kind::Unsuffixed => sample.encode_gauge(value),
    }
}

/// Labels from `(name, value)` pairs.
pub(crate) fn labels<const N: usize>(pairs: [(&'static str, &str); N]) -> Labels {
    pairs
        .into_iter()
        .map(|(name, value)| (name, Text(value.to_owned())))
        .collect()
}

impl EncodeLabelValue for Text {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '\\' => encoder.write_str("\\\\")?,
                '"' => encoder.write_str("\\\"")?,
                '\n' => encoder.write_str("\\n")?,
                c => encoder.write_char(c)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::collector::Collector;
    use prometheus_client::registry::Registry;

    use super::*;

    #[derive(Debug)]
    struct One(Kind);

    impl Collector for One {
        fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
            let samples = [(labels([("name", "a\"b\\c\nd")]), 7u64)];
            write(&mut encoder, "x_bytes", "help", self.0, &samples)?;
            write::<u64>(&mut encoder, "empty", "none yet", Kind::Gauge, &[])
        }
    }

    fn render(kind: Kind) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(One(kind)));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        text
    }

    #[test]
    fn families_are_typed_suffixed_and_escaped() {
        let sample = "{name=\"a\\\"b\\\\c\\nd\"} 7\n";
        assert!(render(Kind::Gauge).contains(&format!("# TYPE x_bytes gauge\nx_bytes{sample}")));
        assert!(render(Kind::Counter).contains(&format!("x_bytes_total{sample}")));
        let unsuffixed = render(Kind::Unsuffixed);
        assert!(unsuffixed.contains(&format!("# TYPE x_bytes unknown\nx_bytes{sample}")));
        assert!(unsuffixed.contains("# HELP empty none yet\n# TYPE empty gauge\n"));
    }
}
