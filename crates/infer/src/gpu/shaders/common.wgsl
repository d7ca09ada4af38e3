// What changes from one submission to the next: how many tokens this forward pass runs, and the
// position of the first. Every kernel that needs them reads this uniform, so the bind groups
// stay the same for the whole session.
struct Step {
    n_tokens: u32,
    pos0: u32,
    _pad0: u32,
    _pad1: u32,
}

// A stand-in for minus infinity (WGSL has no infinity literal).
const NEG_HUGE: f32 = -3.0e38;
