//! [`Model::summary`]: Keras's table of layers, output shapes and parameter counts.

use super::network::Model;

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
        let rows: Vec<(String, String, usize)> = self
            .plan
            .rows
            .iter()
            .map(|r| {
                (
                    format!("{} ({})", r.name, r.class_name),
                    r.output.describe(),
                    r.params,
                )
            })
            .collect();
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
        let (trainable, fixed) = self.plan.count();
        s += &format!(
            "\nTotal params: {}\nTrainable params: {}\nNon-trainable params: {}\n",
            group_thousands(trainable + fixed),
            group_thousands(trainable),
            group_thousands(fixed)
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
