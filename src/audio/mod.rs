//! Audio: decoding (symphonia), resampling to 16 kHz, librosa-compatible mel features, .npy.
