//! The report: each figure as the median of its runs, with min and max, and the table of
//! exports beside the tools a user would pick instead.

use std::fmt::Write as _;

/// One figure: its runs and how to show it.
pub(crate) struct Figure {
    name: String,
    unit: Unit,
    values: Vec<f64>,
    target: String,
}

#[derive(Clone, Copy)]
pub(crate) enum Unit {
    Seconds,
    PerSecond,
    MegabytesPerSecond,
    Mebibytes,
    Millis,
    Percent,
    Ratio,
}

impl Unit {
    pub(crate) fn show(self, v: f64) -> String {
        match self {
            Unit::Seconds => format!("{v:.2} s"),
            Unit::PerSecond => format!("{} /s", thousands(v.round() as u64)),
            Unit::MegabytesPerSecond => format!("{v:.1} MB/s"),
            Unit::Mebibytes => format!("{:.1} MiB", v / 1_048_576.0),
            Unit::Millis => format!("{v:.2} ms"),
            Unit::Percent => format!("{v:.2} %"),
            Unit::Ratio => format!("{v:.2}×"),
        }
    }
}

pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[derive(Default)]
pub(crate) struct Results {
    pub(crate) figures: Vec<Figure>,
    /// Rows of the side-by-side table: a label and each run's wall time, CPU-seconds, stored
    /// bytes and peak RSS (NaN where it does not apply).
    pub(crate) sides: Vec<(String, Vec<[f64; 4]>)>,
    pub(crate) notes: Vec<String>,
}

pub(crate) fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

impl Results {
    pub(crate) fn add(&mut self, name: &str, unit: Unit, value: f64, target: &str) {
        if let Some(f) = self.figures.iter_mut().find(|f| f.name == name) {
            f.values.push(value);
            return;
        }
        self.figures.push(Figure {
            name: name.to_owned(),
            unit,
            values: vec![value],
            target: target.to_owned(),
        });
    }

    pub(crate) fn side(&mut self, label: &str, run: [f64; 4]) {
        match self.sides.iter_mut().find(|(l, _)| l == label) {
            Some((_, runs)) => runs.push(run),
            None => self.sides.push((label.to_owned(), vec![run])),
        }
    }

    /// The side-by-side table of exports and the tools beside them (medians).
    pub(crate) fn side_table(&self) -> String {
        let mut t = String::from(
            "| medians | wall time | CPU-seconds | stored bytes | peak RSS |\n|---|---|---|---|---|\n",
        );
        for (label, runs) in &self.sides {
            let show = |i: usize, unit: Unit| {
                let values: Vec<f64> = runs.iter().map(|r| r[i]).collect();
                let m = median(&values);
                if m.is_nan() {
                    String::new()
                } else {
                    unit.show(m)
                }
            };
            let _ = writeln!(
                t,
                "| {} | {} | {} | {} | {} |",
                label.replace('|', "\\|"),
                show(0, Unit::Seconds),
                show(1, Unit::Seconds),
                show(2, Unit::Mebibytes),
                show(3, Unit::Mebibytes)
            );
        }
        t
    }

    pub(crate) fn table(&self) -> String {
        let mut t =
            String::from("| measure | median | min | max | target |\n|---|---|---|---|---|\n");
        for f in &self.figures {
            let mut v = f.values.clone();
            v.sort_by(f64::total_cmp);
            let median = median(&v);
            let _ = writeln!(
                t,
                "| {} | {} | {} | {} | {} |",
                f.name,
                f.unit.show(median),
                f.unit.show(v[0]),
                f.unit.show(v[v.len() - 1]),
                f.target
            );
        }
        t
    }
}
