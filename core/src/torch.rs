//! What libtorch this build links, and which devices it sees.

/// libtorch's build facts, for `maia doctor` and model loading messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TorchInfo {
    /// Whether a CUDA device is usable.
    pub cuda: bool,
    /// Number of CUDA devices.
    pub cuda_devices: i64,
    /// Whether cuDNN is usable.
    pub cudnn: bool,
    /// CPU threads libtorch uses for intra-op parallelism.
    pub threads: i32,
}

/// Queries libtorch (this also proves the shared library was found at run time).
pub fn info() -> TorchInfo {
    TorchInfo {
        cuda: tch::Cuda::is_available(),
        cuda_devices: tch::Cuda::device_count(),
        cudnn: tch::Cuda::cudnn_is_available(),
        threads: tch::get_num_threads(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn libtorch_loads_and_computes() {
        let t = tch::Tensor::from_slice(&[1.0f32, 2.0, 3.0]);
        let sum = (&t * &t).sum(tch::Kind::Float).double_value(&[]);
        assert_eq!(sum, 14.0);
        assert!(super::info().threads >= 1);
    }
}
