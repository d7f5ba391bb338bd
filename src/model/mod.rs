//! The model: spec (shapes, PyTorch parameter names), init, forward/backward over a Backend.
