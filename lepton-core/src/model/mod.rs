//! Models: ONNX Runtime discovery, sessions, tensors. (models issue)
