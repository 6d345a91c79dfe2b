//! The delivery runtime. PLACEHOLDER — being built.
