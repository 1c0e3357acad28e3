//! The generated table the dataset tests write and read back: three columns (`x`: f32, three
//! per row; `y`: i64; `s`: a string of varying length), different for each seed.

use lepton_core::dataset::ColumnData;

/// `rows` rows of the three columns, kept as plain vectors to compare reads against.
pub struct Columns {
    pub x: Vec<f32>,
    pub y: Vec<i64>,
    pub s: Vec<String>,
}

impl Columns {
    /// `rows` rows made from `seed` (every column depends on it).
    pub fn new(rows: usize, seed: i64) -> Columns {
        Columns {
            x: (0..rows * 3)
                .map(|i| ((i as f32) * 0.37).sin() * 10.0 + seed as f32)
                .collect(),
            y: (0..rows as i64).map(|i| i * 7 + seed).collect(),
            s: (0..rows)
                .map(|i| format!("{}{i} of {seed}", "r".repeat(i % 5)))
                .collect(),
        }
    }

    /// The columns as a writer or a push takes them (`x` with row shape `[3]`).
    pub fn named(&self) -> [(&'static str, ColumnData<'_>); 3] {
        [
            ("x", ColumnData::from_slice(&self.x, &[3]).unwrap()),
            ("y", ColumnData::from_slice(&self.y, &[]).unwrap()),
            ("s", ColumnData::strings(&self.s)),
        ]
    }
}
