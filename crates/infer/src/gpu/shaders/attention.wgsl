// Causal attention of the step's queries over the layer's key/value cache: one workgroup per
// (query head, token). Token t at position pos0 + t sees positions 0..=pos0 + t.
//
// The keys are walked in tiles of 64 with a running maximum and sum (the "online softmax"), so
// no score array is kept and each key and value is read once.

struct Params {
    n_heads: u32,
    n_kv_heads: u32,
    head_dim: u32,
    scale: f32,
}

@group(0) @binding(0) var<storage, read> qkv: array<f32>;
@group(0) @binding(1) var<storage, read> k_cache: array<f32>;
@group(0) @binding(2) var<storage, read> v_cache: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;
@group(0) @binding(5) var<uniform> step: Step;

const TILE: u32 = 64u;
// Head dimensions up to 256: each thread accumulates up to 4 of them.
const DIMS_PER_THREAD: u32 = 4u;

var<workgroup> q: array<f32, 256>;
var<workgroup> p: array<f32, 64>;
var<workgroup> red: array<f32, 64>;

fn reduce_max(lane: u32) -> f32 {
    for (var s = TILE / 2u; s > 0u; s >>= 1u) {
        if (lane < s) {
            red[lane] = max(red[lane], red[lane + s]);
        }
        workgroupBarrier();
    }
    let result = red[0];
    workgroupBarrier();
    return result;
}

fn reduce_sum(lane: u32) -> f32 {
    for (var s = TILE / 2u; s > 0u; s >>= 1u) {
        if (lane < s) {
            red[lane] += red[lane + s];
        }
        workgroupBarrier();
    }
    let result = red[0];
    workgroupBarrier();
    return result;
}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let lane = lid.x;
    let head = wid.x;
    let t = wid.y;
    let hd = params.head_dim;
    let q_dim = params.n_heads * hd;
    let kv_dim = params.n_kv_heads * hd;
    let kv_off = (head / (params.n_heads / params.n_kv_heads)) * hd;
    let n_keys = step.pos0 + t + 1u;

    let q_base = t * (q_dim + 2u * kv_dim) + head * hd;
    for (var d = lane; d < hd; d += TILE) {
        q[d] = qkv[q_base + d];
    }
    workgroupBarrier();

    var running_max = NEG_HUGE;
    var running_sum = 0.0;
    var acc = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
    for (var tile = 0u; tile < n_keys; tile += TILE) {
        let key = tile + lane;
        var score = NEG_HUGE;
        if (key < n_keys) {
            let k_base = key * kv_dim + kv_off;
            var s = 0.0;
            for (var d = 0u; d < hd; d++) {
                s += q[d] * k_cache[k_base + d];
            }
            score = s * params.scale;
        }
        red[lane] = score;
        workgroupBarrier();
        let new_max = max(running_max, reduce_max(lane));
        let correction = exp(running_max - new_max);
        var weight = 0.0;
        if (key < n_keys) {
            weight = exp(score - new_max);
        }
        p[lane] = weight;
        red[lane] = weight;
        workgroupBarrier();
        running_sum = running_sum * correction + reduce_sum(lane);
        let count = min(TILE, n_keys - tile);
        for (var i = 0u; i < DIMS_PER_THREAD; i++) {
            let d = lane + i * TILE;
            if (d < hd) {
                var a = acc[i] * correction;
                for (var j = 0u; j < count; j++) {
                    a += p[j] * v_cache[(tile + j) * kv_dim + kv_off + d];
                }
                acc[i] = a;
            }
        }
        running_max = new_max;
        workgroupBarrier();
    }

    let out_base = t * q_dim + head * hd;
    for (var i = 0u; i < DIMS_PER_THREAD; i++) {
        let d = lane + i * TILE;
        if (d < hd) {
            out[out_base + d] = acc[i] / running_sum;
        }
    }
}
