//! [`Model::summary`]: Keras's table of layers, output shapes and parameter counts.

use super::model::{keras_name, Model};

/// `1234567` as `1,234,567`, as Keras prints parameter counts.
fn group_thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

impl Model {
    /// A Keras-style table of layers, output shapes and parameter counts.
    pub fn summary(&self) -> String {
        let mut rows: Vec<(String, String, usize)> = vec![];
        for (i, st) in self.stages.iter().enumerate() {
            let g = &st.conv;
            rows.push((
                format!("{} (Conv2D)", keras_name("conv2d", i)),
                format!("(None, {}, {}, {})", g.out_h, g.out_w, g.filters),
                g.kernel_len() + g.filters,
            ));
            rows.push((
                format!("{} (MaxPooling2D)", keras_name("max_pooling2d", i)),
                format!("(None, {}, {}, {})", st.pooled.0, st.pooled.1, g.filters),
                0,
            ));
        }
        let u = self.config.dense_units();
        rows.push((
            "flatten (Flatten)".into(),
            format!("(None, {})", self.flat),
            0,
        ));
        rows.push((
            "dense (Dense)".into(),
            format!("(None, {u})"),
            self.flat * u + u,
        ));
        rows.push(("dropout (Dropout)".into(), format!("(None, {u})"), 0));
        let k = self.config.output_units();
        rows.push(("dense_1 (Dense)".into(), format!("(None, {k})"), u * k + k));
        let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(12) + 2;
        let w1 = rows.iter().map(|r| r.1.len()).max().unwrap_or(0).max(12) + 2;
        let width = w0 + w1 + 12;
        let mut s = String::from("Model: \"sequential\"\n");
        s += &"_".repeat(width);
        s += &format!(
            "\n{:<w0$}{:<w1$}{:>12}\n",
            "Layer (type)", "Output Shape", "Param #"
        );
        s += &"=".repeat(width);
        s.push('\n');
        for (i, (a, b, c)) in rows.iter().enumerate() {
            s += &format!("{a:<w0$}{b:<w1$}{:>12}\n", group_thousands(*c));
            if i + 1 < rows.len() {
                s += &"_".repeat(width);
                s.push('\n');
            }
        }
        s += &"=".repeat(width);
        let total = group_thousands(self.count_params());
        s += &format!(
            "\nTotal params: {total}\nTrainable params: {total}\nNon-trainable params: 0\n"
        );
        s += &"_".repeat(width);
        s.push('\n');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::super::ModelConfig;
    use super::*;

    #[test]
    fn summary_lists_the_tutorial_layers_and_counts() {
        let m = Model::new(ModelConfig::default(), 0).unwrap();
        let s = m.summary();
        // Keras's numbers for the tutorial model on 130x130x1.
        assert!(s.contains("(None, 128, 128, 32)"), "{s}");
        assert!(s.contains("(None, 14, 14, 64)"), "{s}");
        assert!(s.contains("(None, 12544)"), "{s}");
        assert!(s.contains("1,605,760"), "{s}");
        assert!(
            s.contains("18,496") && s.contains("36,928") && s.contains("320"),
            "{s}"
        );
        assert_eq!(m.count_params(), 320 + 18496 + 36928 + 1605760 + 129);
        assert!(s.contains("Total params: 1,661,633"), "{s}");
    }
}
