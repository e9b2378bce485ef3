//! Flattening NHWC activations into rows, as Keras's `Flatten` does (order: row, column, channel).

use dfdx::prelude::*;

use super::tensor_io::Nhwc;

/// Keras's `Flatten`: `(n, h, w, c)` to `(n, h * w * c)`, both sizes known at run time.
#[derive(Debug, Default, Clone, Copy)]
pub struct Flatten;

impl ZeroSizedModule for Flatten {}
impl NonMutableModule for Flatten {}

impl<E: Dtype, D: Device<E>, T: Tape<E, D>> Module<Tensor<Nhwc, E, D, T>> for Flatten {
    type Output = Tensor<(usize, usize), E, D, T>;
    type Error = D::Err;

    fn try_forward(&self, x: Tensor<Nhwc, E, D, T>) -> Result<Self::Output, D::Err> {
        let (n, h, w, c) = *x.shape();
        x.try_reshape_like(&(n, h * w * c))
    }
}

/// `Flatten` to a compile-time width `N`, so that dfdx's `Linear<N, _>` can follow it.
///
/// An input whose `h * w * c` is not `N` is reported as the device's `WrongNumElements` error
/// (`CpuError::WrongNumElements` on `Cpu`).
#[derive(Debug, Default, Clone, Copy)]
pub struct FlattenTo<const N: usize>;

impl<const N: usize> ZeroSizedModule for FlattenTo<N> {}
impl<const N: usize> NonMutableModule for FlattenTo<N> {}

impl<const N: usize, T: Tape<f32, Cpu>> Module<Tensor<Nhwc, f32, Cpu, T>> for FlattenTo<N> {
    type Output = Tensor<(usize, Const<N>), f32, Cpu, T>;
    type Error = CpuError;

    fn try_forward(&self, x: Tensor<Nhwc, f32, Cpu, T>) -> Result<Self::Output, CpuError> {
        let (n, h, w, c) = *x.shape();
        if h * w * c != N {
            return Err(CpuError::WrongNumElements);
        }
        x.try_reshape_like(&(n, Const::<N>))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flatten_keeps_row_column_channel_order() {
        let dev = Cpu::default();
        let data: Vec<f32> = (0..2 * 2 * 3 * 2).map(|v| v as f32).collect();
        let x = dev.tensor_from_vec(data.clone(), (2usize, 2usize, 3usize, 2usize));
        let y = Flatten.forward(x.clone());
        assert_eq!(*y.shape(), (2, 12));
        assert_eq!(y.as_vec(), data);
        let z = FlattenTo::<12>.forward(x.clone());
        assert_eq!(z.shape().1.size(), 12);
        assert!(FlattenTo::<11>.try_forward(x).is_err());
    }

    #[test]
    fn flatten_to_feeds_a_dfdx_linear_and_passes_gradients_back() {
        let dev = Cpu::default();
        let model = dev.build_module::<(FlattenTo<8>, Linear<8, 1>), f32>();
        let x = dev.tensor_from_vec(vec![1.0f32; 2 * 8], (2usize, 2usize, 2usize, 2usize));
        let y = model.forward(x.leaky_trace());
        assert_eq!(y.shape().0, 2);
        let grads = y.sum().backward();
        let gw = grads.get(&model.1.weight).as_vec();
        // d(sum)/dW = sum of the inputs over the batch = 2 for every weight.
        assert!(gw.iter().all(|v| (v - 2.0).abs() < 1e-6));
    }
}
