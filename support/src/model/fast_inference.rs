//! Inference without dfdx's tape, for models made of convolutions (each fused with its
//! activation and pooling), `Flatten`, `Dense` and `Dropout`: the tutorial's model and the
//! recommended one.
//!
//! The tape's forward pass runs layer by layer over the whole batch: every layer's output is a
//! new batch-sized buffer (zeroed, then copied into the next layer's call), and the threads meet
//! at the end of every layer. Here each image goes through all the convolutions in one task, in
//! per-thread buffers that stay in the core's cache, and only the flattened features of the batch
//! meet, for the dense layers (matrix products split by rows over the threads). The convolutions
//! are the same kernels as the tape's, so the values are the same; the dense layers may round
//! differently (bias first, then the product). Models with other layers (batch normalisation,
//! residual blocks, global pooling) take the tape.

use std::cell::RefCell;

use rayon::prelude::*;

use super::param::Param;
use super::plan::{ConvStep, Plan, Step};
use crate::error::Result;
use crate::ops::conv::ConvGeometry;
use crate::ops::fused::ForwardKernel;
use crate::ops::geometry::FusedGeometry;
use crate::ops::matmul::{matmul, MatRef};

/// One image's activations, ping and pong, and the arg-max codes the kernels write (unused
/// here).
type Buffers = (Vec<f32>, Vec<f32>, Vec<u16>);

thread_local! {
    /// Each thread's [`Buffers`], reused across calls.
    static ACTIVATIONS: RefCell<Buffers> = const { RefCell::new((Vec::new(), Vec::new(), Vec::new())) };
}

/// A dense layer: indices of its kernel (`inputs x units`, row-major) and bias in the weights.
struct Dense {
    kernel: usize,
    bias: usize,
    units: usize,
    relu: bool,
}

/// A plan this module can run: its convolutions with their geometries, then its dense layers.
pub(crate) struct TapelessPlan {
    convs: Vec<(FusedGeometry, ConvStep)>,
    dense: Vec<Dense>,
    /// Values per image after the convolutions (the flattened features).
    features: usize,
}

impl TapelessPlan {
    /// The plan of a model whose input is `h x w x 1`, or `None` when it has a layer other than
    /// the four above, or they come in another order (convolutions, `Flatten`, then `Dense` and
    /// `Dropout`, ending with a `Dense`).
    pub(crate) fn new(plan: &Plan, h: usize, w: usize) -> Result<Option<Self>> {
        let (mut h, mut w, mut c) = (h, w, 1);
        let mut steps = plan.steps.iter().peekable();
        let mut convs = vec![];
        while let Some(Step::Conv(step)) = steps.peek() {
            let fg = FusedGeometry::new(
                ConvGeometry::new(h, w, c, &step.spec)?,
                step.pool,
                step.relu,
            )?;
            (h, w, c) = (fg.ph, fg.pw, fg.conv.filters);
            convs.push((fg, *step));
            steps.next();
        }
        if !matches!(steps.next(), Some(Step::Flatten)) {
            return Ok(None);
        }
        let mut dense = vec![];
        for step in steps {
            match *step {
                Step::Dense {
                    kernel,
                    bias,
                    units,
                    relu,
                } => dense.push(Dense {
                    kernel,
                    bias,
                    units,
                    relu,
                }),
                Step::Dropout { .. } => {}
                _ => return Ok(None),
            }
        }
        if !matches!(plan.steps.last(), Some(Step::Dense { .. })) {
            return Ok(None);
        }
        Ok(Some(TapelessPlan {
            convs,
            dense,
            features: h * w * c,
        }))
    }

    /// The output layer's values (logits) of the `n` images in `data` (`n x h x w`, as the
    /// model's input), row after row, with the weights `params`, `batch` images at a time (the
    /// kernels are prepared once for all of them).
    pub(crate) fn logits(
        &self,
        params: &[Param],
        n: usize,
        data: &[f32],
        batch: usize,
    ) -> Vec<f32> {
        let kernels: Vec<(ForwardKernel, &[f32])> = self
            .convs
            .iter()
            .map(|(fg, step)| {
                (
                    ForwardKernel::new(fg, &params[step.kernel].values),
                    params[step.bias].values.as_slice(),
                )
            })
            .collect();
        let in_len = data.len() / n;
        let mut out = Vec::with_capacity(n * self.dense.last().map_or(0, |d| d.units));
        for chunk in data.chunks(batch * in_len) {
            let m = chunk.len() / in_len;
            let mut h = vec![0.0f32; m * self.features];
            h.par_chunks_mut(self.features)
                .zip(chunk.par_chunks(in_len))
                .for_each(|(features, x)| image_features(&kernels, x, features));
            for d in &self.dense {
                h = dense(
                    &h,
                    m,
                    &params[d.kernel].values,
                    &params[d.bias].values,
                    d.units,
                    d.relu,
                );
            }
            out.extend(h);
        }
        out
    }
}

/// One image `x` through the convolutions, its flattened features into `features`.
fn image_features(kernels: &[(ForwardKernel, &[f32])], x: &[f32], features: &mut [f32]) {
    let Some(((last, last_bias), earlier)) = kernels.split_last() else {
        features.copy_from_slice(x);
        return;
    };
    // A thread that is already inside this function (were a kernel ever to run rayon tasks)
    // takes fresh buffers instead of the borrowed ones.
    let mut run = |(ping, pong, idx): &mut Buffers| {
        let (mut input, mut output) = (std::mem::take(ping), std::mem::take(pong));
        let mut from_x = true;
        let longest = kernels.iter().map(|(k, _)| k.geometry().out_len()).max();
        if idx.len() < longest.unwrap_or(0) {
            idx.resize(longest.unwrap_or(0), 0);
        }
        for (kernel, bias) in earlier {
            let fg = kernel.geometry();
            let len = fg.out_len();
            if output.len() < len {
                output.resize(len, 0.0);
            }
            let src = if from_x {
                x
            } else {
                &input[..fg.conv.in_len()]
            };
            kernel.forward_image(src, bias, &mut output[..len], &mut idx[..len]);
            std::mem::swap(&mut input, &mut output);
            from_x = false;
        }
        let fg = last.geometry();
        let src = if from_x {
            x
        } else {
            &input[..fg.conv.in_len()]
        };
        last.forward_image(src, last_bias, features, &mut idx[..fg.out_len()]);
        (*ping, *pong) = (input, output);
    };
    ACTIVATIONS.with(|cell| match cell.try_borrow_mut() {
        Ok(mut bufs) => run(&mut bufs),
        Err(_) => run(&mut Buffers::default()),
    });
}

/// `act(h · kernel + bias)` for the `n` rows of `h`, rows split over the threads.
fn dense(h: &[f32], n: usize, kernel: &[f32], bias: &[f32], units: usize, relu: bool) -> Vec<f32> {
    let len = h.len() / n;
    let rows = n.div_ceil(rayon::current_num_threads()).max(1);
    let mut out = vec![0.0f32; n * units];
    out.par_chunks_mut(rows * units)
        .zip(h.par_chunks(rows * len))
        .for_each(|(o, hi)| {
            for row in o.chunks_exact_mut(units) {
                row.copy_from_slice(bias);
            }
            matmul(
                o,
                units,
                MatRef::row_major(hi, hi.len() / len, len),
                MatRef::row_major(kernel, len, units),
                true,
            );
            if relu {
                for v in o.iter_mut() {
                    *v = v.max(0.0);
                }
            }
        });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::network::tests::{every_layer, small};
    use crate::model::{Activation, Layer, Model, ModelConfig, Padding};
    use crate::ops::tensor_io::tests::rand_vec;

    /// Builds `layers` on `h x w` images.
    fn config(h: usize, w: usize, layers: Vec<Layer>) -> ModelConfig {
        ModelConfig::builder()
            .input_size(h, w)
            .layers(layers)
            .build()
            .unwrap()
    }

    /// The logits without the tape equal the tape's for `n` random images (more than one
    /// `PREDICT_BATCH`, the last one partial).
    fn assert_same_logits(config: ModelConfig, n: usize) {
        let model = Model::new(config, 3).unwrap();
        let (h, w) = (model.config.input_height(), model.config.input_width());
        assert!(TapelessPlan::new(&model.plan, h, w).unwrap().is_some());
        let data: Vec<f32> = rand_vec(n * h * w, 5)
            .into_iter()
            .map(|v| (v + 1.0) / 2.0)
            .collect();
        let fast = model.logits(n, &data).unwrap();
        let tape = model.logits_on_tape(n, &data).unwrap();
        assert_eq!(fast.len(), n * model.config.output_units());
        assert_eq!(fast.len(), tape.len());
        let scale = tape.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        for (i, (a, b)) in fast.iter().zip(&tape).enumerate() {
            assert!((a - b).abs() <= 1e-5 * scale, "logit {i}: {a} vs {b}");
        }
        // Not all equal: the test compares something.
        assert!(tape.iter().any(|v| (v - tape[0]).abs() > 1e-4));
    }

    #[test]
    fn the_direct_first_layers_as_on_the_tape() {
        assert_same_logits(small(), 37);
    }

    #[test]
    fn winograd_im2col_and_linear_convolutions_as_on_the_tape() {
        let layers = vec![
            Layer::conv2d(16, 3, Activation::Relu),
            Layer::max_pooling2d(2),
            // 16 input channels: Winograd.
            Layer::conv2d(9, 3, Activation::Relu),
            Layer::max_pooling2d(2),
            // Linear and unpooled: im2col.
            Layer::Conv2D {
                filters: 5,
                kernel_size: 3,
                padding: Padding::Same,
                activation: Activation::Linear,
            },
            Layer::Flatten,
            Layer::dense(12, Activation::Relu),
            Layer::dropout(0.5),
            Layer::dense(7, Activation::Linear),
            Layer::output(3),
        ];
        assert_same_logits(config(30, 26, layers), 35);
    }

    #[test]
    fn dense_layers_alone_as_on_the_tape() {
        let layers = vec![
            Layer::Flatten,
            Layer::dense(6, Activation::Relu),
            Layer::output(2),
        ];
        assert_same_logits(config(9, 7, layers), 3);
    }

    #[test]
    fn other_layers_take_the_tape() {
        let m = Model::new(every_layer(0.5), 1).unwrap();
        assert!(TapelessPlan::new(&m.plan, 24, 20).unwrap().is_none());
        let gap = config(
            12,
            12,
            vec![
                Layer::conv2d(4, 3, Activation::Relu),
                Layer::GlobalAveragePooling2D,
                Layer::output(2),
            ],
        );
        let m = Model::new(gap, 1).unwrap();
        assert!(TapelessPlan::new(&m.plan, 12, 12).unwrap().is_none());
    }
}
