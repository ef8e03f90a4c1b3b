//! `--device` values.

use crate::target::TargetError;
use tch::Device;

/// Parses `cpu`, `cuda`, `cuda:N` or `auto` (the first CUDA device when there is one, else
/// CPU), checking that a CUDA device exists.
pub fn parse_device(text: &str) -> Result<Device, TargetError> {
    let text = text.trim().to_ascii_lowercase();
    let count = tch::Cuda::device_count();
    let device = match text.as_str() {
        "auto" => {
            return Ok(if count > 0 {
                Device::Cuda(0)
            } else {
                Device::Cpu
            });
        }
        "cpu" => Device::Cpu,
        "cuda" | "gpu" => Device::Cuda(0),
        other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(n)) => Device::Cuda(n),
            _ => {
                return Err(TargetError::Spec(format!(
                    "unknown device `{text}`: use cpu, cuda, cuda:N or auto"
                )));
            }
        },
    };
    if let Device::Cuda(n) = device
        && n as i64 >= count
    {
        return Err(TargetError::Spec(if count == 0 {
            format!("{text}: no CUDA device is visible here (libtorch sees none); use --device cpu")
        } else {
            format!(
                "{text}: only {count} CUDA device(s) visible (cuda:0..cuda:{})",
                count - 1
            )
        }));
    }
    Ok(device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks_devices() {
        assert_eq!(parse_device("cpu").ok(), Some(Device::Cpu));
        assert!(parse_device("auto").is_ok());
        let msg = parse_device("tpu")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(msg.contains("use cpu, cuda"), "{msg}");
        if tch::Cuda::device_count() == 0 {
            let msg = parse_device("cuda:0")
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(msg.contains("no CUDA device"), "{msg}");
        }
    }
}
