//! The GPU: device setup, buffers and readback, the same code natively (Vulkan, Metal, DX12) and
//! in the browser (WebGPU).

pub(crate) mod kernels;
pub(crate) mod weights;

use std::sync::{Arc, Mutex};

use futures_channel::oneshot;
use wgpu::util::DeviceExt;

use crate::error::{InferError, Result};

/// The largest head dimension the attention kernel handles.
pub const MAX_HEAD_DIM: usize = 256;

/// What adapter the engine runs on.
#[derive(Clone, Debug)]
pub struct GpuInfo {
    pub name: String,
    /// `Vulkan`, `Metal`, `Dx12`, `Gl` or `BrowserWebGpu`.
    pub backend: String,
    /// `DiscreteGpu`, `IntegratedGpu`, `Cpu` (a software rasteriser such as lavapipe), ...
    pub device_type: String,
    pub driver: String,
    /// The largest buffer one kernel may bind; bigger matrices are split by rows.
    pub max_binding_bytes: u64,
    /// Whether decoding's matrix-vector products run one row per thread, with no barriers:
    /// the faster form on CPU adapters.
    pub matvec_rows: bool,
}

/// Choices made when opening the GPU.
#[derive(Clone, Debug, Default)]
pub struct GpuOptions {
    /// At most this many bytes in one buffer binding, below the adapter's own limit; larger
    /// matrices are split by rows (to keep single allocations small, and to test the split).
    pub max_binding_bytes: Option<u64>,
    /// Asks for GPU timestamps between kernels, for `Session::profile_step`, when the adapter
    /// has them (natively on Vulkan, Metal and DX12; not in browsers).
    pub profile: bool,
    /// Forces the matrix-vector form (`GpuInfo::matvec_rows`) instead of choosing it from the
    /// adapter's type, so that tests run both forms on one adapter.
    pub matvec_rows: Option<bool>,
}

/// A device and its queue. Cheap to share: models and sessions hold an `Arc<Gpu>`.
pub struct Gpu {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    info: GpuInfo,
    /// The first error the device reported outside an error scope. wgpu's default is to panic;
    /// we keep it, and every later readback fails with it.
    failure: Arc<Mutex<Option<String>>>,
}

impl Gpu {
    /// Opens the best adapter there is. Natively `WGPU_BACKEND` (`vulkan`, `gl`, ...) and
    /// `WGPU_ADAPTER_NAME` choose another.
    pub async fn new() -> Result<Arc<Gpu>> {
        Self::with_options(GpuOptions::default()).await
    }

    pub async fn with_options(options: GpuOptions) -> Result<Arc<Gpu>> {
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
            .map_err(|e| InferError::Gpu(format!("no GPU adapter: {e}")))?;
        let available = adapter.limits();
        // WebGPU's defaults, except that models want large buffers when the adapter allows them.
        let limits = wgpu::Limits {
            max_storage_buffer_binding_size: available.max_storage_buffer_binding_size,
            max_buffer_size: available.max_buffer_size,
            ..wgpu::Limits::default()
        };
        let timestamps =
            wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES;
        let required_features = if options.profile && adapter.features().contains(timestamps) {
            timestamps
        } else {
            wgpu::Features::empty()
        };
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("potluck-infer"),
                required_features,
                required_limits: limits.clone(),
                ..Default::default()
            })
            .await
            .map_err(|e| InferError::Gpu(format!("cannot open the GPU: {e}")))?;
        let adapter_info = adapter.get_info();
        let info = GpuInfo {
            name: adapter_info.name,
            backend: format!("{:?}", adapter_info.backend),
            device_type: format!("{:?}", adapter_info.device_type),
            matvec_rows: options
                .matvec_rows
                .unwrap_or(adapter_info.device_type == wgpu::DeviceType::Cpu),
            driver: format!("{} {}", adapter_info.driver, adapter_info.driver_info)
                .trim()
                .to_string(),
            max_binding_bytes: limits
                .max_storage_buffer_binding_size
                .min(limits.max_buffer_size)
                .min(options.max_binding_bytes.unwrap_or(u64::MAX)),
        };
        tracing::info!(adapter = info.name, backend = info.backend, "GPU opened");
        let failure = Arc::new(Mutex::new(None));
        let record = |failure: &Arc<Mutex<Option<String>>>, error: String| {
            failure
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_or_insert(error);
        };
        let recorder = failure.clone();
        device.on_uncaptured_error(Arc::new(move |error: wgpu::Error| {
            tracing::error!(%error, "GPU error");
            record(&recorder, error.to_string());
        }));
        // A lost device (a driver reset, the browser reclaiming the GPU) never comes back.
        let recorder = failure.clone();
        device.set_device_lost_callback(move |reason, message| {
            if reason != wgpu::DeviceLostReason::Destroyed {
                tracing::error!(?reason, message, "GPU lost");
                record(&recorder, format!("the GPU was lost: {message}"));
            }
        });
        Ok(Arc::new(Gpu {
            device,
            queue,
            info,
            failure,
        }))
    }

    pub fn info(&self) -> &GpuInfo {
        &self.info
    }

    /// Whether kernels can be timed (`GpuOptions::profile`, on an adapter that allows it).
    pub fn has_timestamps(&self) -> bool {
        self.device
            .features()
            .contains(wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES)
    }

    /// Runs `create`, which makes GPU resources, and turns what the device reports against it
    /// (running out of memory, above all) into an error instead of a panic.
    pub(crate) async fn checked<T>(
        &self,
        what: &str,
        create: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        let out_of_memory = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let invalid = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let value = create();
        let invalid = invalid.pop();
        let out_of_memory = out_of_memory.pop();
        let (invalid, out_of_memory) = (invalid.await, out_of_memory.await);
        if let Some(error) = out_of_memory.or(invalid) {
            return Err(InferError::Gpu(format!("{what}: {error}")));
        }
        value
    }

    /// The first error the device reported outside an error scope, or its loss: after one,
    /// nothing it computes can be trusted.
    pub fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The error the device reported, if any, as a result.
    fn health(&self) -> Result<()> {
        match self.failure() {
            Some(error) => Err(InferError::Gpu(error)),
            None => Ok(()),
        }
    }

    /// Blocks until everything submitted so far has run.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn wait_idle(&self) {
        let _ = self.device.poll(wgpu::PollType::wait_indefinitely());
    }

    /// Seconds that `reps` copies of a `bytes`-long buffer into another take, after one
    /// untimed copy: the adapter's memory bandwidth as the benchmark's yardstick.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn time_copies(&self, bytes: u64, reps: u32) -> (f64, u32) {
        let from = self.scratch_buffer("copy source", bytes);
        let to = self.scratch_buffer("copy destination", bytes);
        let copy = |times: u32| {
            let mut encoder = self.device.create_command_encoder(&Default::default());
            for _ in 0..times {
                encoder.copy_buffer_to_buffer(&from, 0, &to, 0, bytes);
            }
            self.queue.submit([encoder.finish()]);
            self.wait_idle();
        };
        copy(1);
        let started = web_time::Instant::now();
        copy(reps);
        (started.elapsed().as_secs_f64(), reps)
    }

    pub(crate) fn storage_buffer(&self, label: &str, contents: &[u8]) -> wgpu::Buffer {
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents,
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_SRC
                    | wgpu::BufferUsages::COPY_DST,
            })
    }

    /// A zeroed storage buffer of `bytes` (at least 16, the smallest binding).
    pub(crate) fn scratch_buffer(&self, label: &str, bytes: u64) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes.max(16).next_multiple_of(4),
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    pub(crate) fn uniform_buffer(&self, label: &str, contents: &[u8]) -> wgpu::Buffer {
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            })
    }

    /// A buffer the CPU can read back, the destination of a copy.
    pub(crate) fn readback_buffer(&self, label: &str, bytes: u64) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes.next_multiple_of(4),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    /// The first `bytes` of a readback buffer once `submission` (which filled it) is done.
    /// Waits for that submission only, not for later ones, so the GPU keeps working meanwhile.
    pub(crate) async fn read(
        &self,
        buffer: &wgpu::Buffer,
        bytes: u64,
        submission: wgpu::SubmissionIndex,
    ) -> Result<Vec<u8>> {
        let slice = buffer.slice(..bytes);
        let (done, mapped) = oneshot::channel();
        slice.map_async(wgpu::MapMode::Read, move |result| {
            let _ = done.send(result);
        });
        // Natively, callbacks run when the device is polled; in the browser, from its event
        // loop while we await.
        #[cfg(not(target_arch = "wasm32"))]
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(submission),
                timeout: None,
            })
            .map_err(|e| InferError::Gpu(format!("waiting for the GPU: {e}")))?;
        #[cfg(target_arch = "wasm32")]
        let _ = submission;
        mapped
            .await
            .map_err(|_| InferError::Gpu("the GPU dropped a readback".into()))?
            .map_err(|e| InferError::Gpu(format!("reading back from the GPU: {e}")))?;
        let data = slice
            .get_mapped_range()
            .map_err(|e| InferError::Gpu(format!("reading back from the GPU: {e}")))?
            .to_vec();
        buffer.unmap();
        self.health()?;
        Ok(data)
    }
}

/// f32s from little-endian bytes read back from the GPU.
pub(crate) fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}
