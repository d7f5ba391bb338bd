//! Datasets (FMA tracks.csv, class folders, manifest), splits, feature store, sampler,
//! synthetic FMA-shaped generator.
