//! The registry of models and datasets over an object store. (platform issue)
