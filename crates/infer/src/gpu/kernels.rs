//! The compute kernels: their WGSL, their bindings, and compiled pipelines (made on first use).
//!
//! The matrix kernels are written once; each weight type contributes the function that reads
//! and dequantises its blocks (`shaders/weights_<type>.wgsl`), so a kernel is compiled once per
//! weight type a model uses.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::gpu::Gpu;
use crate::quant::WeightType;

const COMMON: &str = include_str!("shaders/common.wgsl");
const WEIGHTS: &str = include_str!("shaders/weights.wgsl");

fn weight_reader(ty: WeightType) -> &'static str {
    match ty {
        WeightType::F32 => include_str!("shaders/weights_f32.wgsl"),
        WeightType::F16 => include_str!("shaders/weights_f16.wgsl"),
        WeightType::BF16 => include_str!("shaders/weights_bf16.wgsl"),
        WeightType::Q8_0 => include_str!("shaders/weights_q8_0.wgsl"),
        WeightType::Q4_0 => include_str!("shaders/weights_q4_0.wgsl"),
        WeightType::Q4_1 => include_str!("shaders/weights_q4_1.wgsl"),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kernel {
    /// y = W x for one token (decoding): rows split over a workgroup's threads (GPUs).
    MatVec(WeightType),
    /// The same with one row per thread and no barriers (CPU adapters).
    MatVecRows(WeightType),
    /// Y = X Wᵀ for a batch of tokens (prefill).
    MatMul(WeightType),
    /// Embedding rows of the step's tokens.
    Embed(WeightType),
    RmsNorm,
    /// Rotary embedding of q and k; k and v into the cache.
    RopeStore,
    Attention,
    SwiGlu,
    /// The next token, from the last logits.
    Sample,
}

/// How a kernel sees one of its buffers.
#[derive(Clone, Copy)]
enum Binding {
    Read,
    ReadWrite,
    Uniform,
}

use Binding::{Read, ReadWrite, Uniform};

impl Kernel {
    fn source(self) -> String {
        let (body, ty) = match self {
            Kernel::MatVec(ty) => (
                concat!(
                    include_str!("shaders/matrix.wgsl"),
                    include_str!("shaders/matvec.wgsl")
                ),
                Some(ty),
            ),
            Kernel::MatVecRows(ty) => (
                concat!(
                    include_str!("shaders/matrix.wgsl"),
                    include_str!("shaders/matvec_rows.wgsl")
                ),
                Some(ty),
            ),
            Kernel::MatMul(ty) => (
                concat!(
                    include_str!("shaders/matrix.wgsl"),
                    include_str!("shaders/matmul.wgsl")
                ),
                Some(ty),
            ),
            Kernel::Embed(ty) => (include_str!("shaders/embed.wgsl"), Some(ty)),
            Kernel::RmsNorm => (include_str!("shaders/rmsnorm.wgsl"), None),
            Kernel::RopeStore => (include_str!("shaders/rope_store.wgsl"), None),
            Kernel::Attention => (include_str!("shaders/attention.wgsl"), None),
            Kernel::SwiGlu => (include_str!("shaders/swiglu.wgsl"), None),
            Kernel::Sample => (include_str!("shaders/sample.wgsl"), None),
        };
        match ty {
            Some(ty) => [COMMON, body, WEIGHTS, weight_reader(ty)].join("\n"),
            None => [COMMON, body].join("\n"),
        }
    }

    /// The bindings of group 0, in order; they must match the kernel's WGSL declarations.
    fn bindings(self) -> &'static [Binding] {
        match self {
            Kernel::MatVec(_) | Kernel::MatVecRows(_) | Kernel::MatMul(_) => {
                &[Read, Read, ReadWrite, Read, Uniform, Uniform]
            }
            Kernel::Embed(_) => &[Read, Read, ReadWrite, Uniform, Uniform],
            Kernel::RmsNorm => &[Read, Read, ReadWrite, Uniform],
            Kernel::RopeStore => &[ReadWrite, ReadWrite, ReadWrite, Read, Uniform, Uniform],
            Kernel::Attention => &[Read, Read, Read, ReadWrite, Uniform, Uniform],
            Kernel::SwiGlu => &[Read, ReadWrite, Uniform, Uniform],
            Kernel::Sample => &[Read, ReadWrite, ReadWrite, ReadWrite, Uniform, Uniform],
        }
    }
}

#[derive(Clone)]
pub(crate) struct Pipeline {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
}

/// The compiled kernels of one device, compiled when first asked for.
pub(crate) struct Kernels {
    gpu: Arc<Gpu>,
    compiled: Mutex<HashMap<Kernel, Pipeline>>,
}

impl Kernels {
    pub fn new(gpu: Arc<Gpu>) -> Self {
        Kernels {
            gpu,
            compiled: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, kernel: Kernel) -> Pipeline {
        let mut compiled = self.compiled.lock().unwrap_or_else(|e| e.into_inner());
        compiled
            .entry(kernel)
            .or_insert_with(|| self.compile(kernel))
            .clone()
    }

    fn compile(&self, kernel: Kernel) -> Pipeline {
        let device = &self.gpu.device;
        let label = format!("{kernel:?}");
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(&label),
            source: wgpu::ShaderSource::Wgsl(kernel.source().into()),
        });
        let entries: Vec<wgpu::BindGroupLayoutEntry> = kernel
            .bindings()
            .iter()
            .enumerate()
            .map(|(i, binding)| wgpu::BindGroupLayoutEntry {
                binding: i as u32,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: match binding {
                        Read => wgpu::BufferBindingType::Storage { read_only: true },
                        ReadWrite => wgpu::BufferBindingType::Storage { read_only: false },
                        Uniform => wgpu::BufferBindingType::Uniform,
                    },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            })
            .collect();
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(&label),
            entries: &entries,
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(&label),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(&label),
            layout: Some(&pipeline_layout),
            module: &module,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        });
        Pipeline { pipeline, layout }
    }
}

/// How many workgroups a dispatch launches, as a function of the step's token count.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Grid {
    /// The same every time.
    Fixed(u32, u32),
    /// `x` groups for each token.
    PerToken(u32),
    /// `x` groups for each tile of `tile` tokens.
    PerTokenTile(u32, u32),
}

impl Grid {
    /// A grid of `groups` workgroups in x, folded into y when over the per-dimension limit (the
    /// kernel recombines them).
    pub fn folded(groups: u32) -> Grid {
        const MAX: u32 = 65535;
        if groups <= MAX {
            Grid::Fixed(groups, 1)
        } else {
            Grid::Fixed(MAX, groups.div_ceil(MAX))
        }
    }

    pub fn size(self, n_tokens: u32) -> (u32, u32) {
        match self {
            Grid::Fixed(x, y) => (x, y),
            Grid::PerToken(x) => (x, n_tokens),
            Grid::PerTokenTile(x, tile) => (x, n_tokens.div_ceil(tile)),
        }
    }
}

/// One kernel launch, ready to encode: the bind group is made once, when the session is.
#[derive(Clone)]
pub(crate) struct Dispatch {
    kernel: Kernel,
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    grid: Grid,
}

impl Dispatch {
    pub fn new(
        gpu: &Gpu,
        kernels: &Kernels,
        kernel: Kernel,
        buffers: &[&wgpu::Buffer],
        grid: Grid,
    ) -> Self {
        let Pipeline { pipeline, layout } = kernels.get(kernel);
        debug_assert_eq!(buffers.len(), kernel.bindings().len(), "{kernel:?}");
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .enumerate()
            .map(|(i, buffer)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: buffer.as_entire_binding(),
            })
            .collect();
        let bind_group = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(&format!("{kernel:?}")),
            layout: &layout,
            entries: &entries,
        });
        Dispatch {
            kernel,
            pipeline,
            bind_group,
            grid,
        }
    }

    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    pub fn encode(&self, pass: &mut wgpu::ComputePass<'_>, n_tokens: u32) {
        let (x, y) = self.grid.size(n_tokens);
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        pass.dispatch_workgroups(x, y, 1);
    }
}
